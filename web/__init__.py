"""The web app: the family web chat, web security helpers, and the mounts of /wechat and /desk."""
