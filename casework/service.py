"""The conversation's services over the database: file a pre-application, list one's cases, forget.

`CaseService(engine=…)` is built once; `bind(session)` gives the object the engine calls inside the
update's transaction, so a filed case and the conversation state are committed together.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import clock
from conversation.idcard import check_id, mask_id, mask_phone
from conversation.model import Notice, Reply, Who
from conversation.result_view import routes
from policy_kb.loader import load_kb
from policy_kb.places import place_index
from casework.deadlines import add_working_days, office_limit
from casework.record import answers_record, category_path
from settings import get_settings
from storage import crypto, repo
from storage.models import Child, Family, PreApplication, Status, utcnow


def lineage(place_name: str | None) -> list[str]:
    """The place and every place that contains it: 重庆市綦江区 → [重庆市, 重庆市綦江区]."""
    index = place_index(load_kb())
    node = index.nodes.get(place_name) if place_name else None
    names: list[str] = []
    while node is not None:
        names.insert(0, node.name)
        node = index.nodes.get(node.parent) if node.parent else None
    return names


def office_of(result: dict[str, Any] | None) -> str | None:
    """The receiving office the knowledge base names, or None (the template says 乡镇（街道）民政办)."""
    if not result:
        return None
    route = routes(result)  # the procedure of this family's own route, as the result told them
    return route[0]["office"].split("；")[0] if route else None


class CaseService:
    def __init__(self, *, engine: Engine):
        self.engine = engine
        self._session: Any = None

    def bind(self, session: Any) -> "CaseService":
        """`session`: a Session, or an object whose `get()` makes one when first needed (the update's
        lazy session, conversation/session.py: most steps never touch a case)."""
        bound = CaseService(engine=self.engine)
        bound._session = session
        return bound

    @property
    def session(self) -> Session | None:
        s = self._session
        return s if s is None or isinstance(s, Session) else s.get()

    @session.setter
    def session(self, value: Session | None) -> None:
        self._session = value

    # -- the conversation's Services protocol (conversation/engine.py)

    def file_case(self, *, who: Who, state: dict[str, Any], facts: dict[str, Any],
                  result: dict[str, Any]) -> tuple[dict[str, Any], list[Notice]]:
        s = self.session
        user = repo.get_or_create_user(s, user_key=who.user_key)
        key = f"{who.user_key}:{state['nonce']}"
        existing = repo.case_by_key(s, idempotency_key=key)
        if existing is not None:  # a double tap, or a redelivered update: one case
            alerted = existing.urgent and bool(repo.staff_for_place(s, lineage=lineage(existing.place)))
            return self._case_view(existing, result, alerted=alerted), []
        ident = state["identity"]
        number, birth, _ = check_id(ident["child_id"])
        id_hash = crypto.lookup_hash(number)
        duplicate = next((d for h in crypto.lookup_hashes(number)  # every key: a rotation under way
                          if (d := repo.pending_for_child(s, id_hash=h)) is not None), None)
        place = (result.get("region") or {}).get("matched")
        names = lineage(place)
        urgent = bool(state.get("urgent") or result.get("urgent"))
        family = Family(filer_id=user.id, applicant_name=ident["applicant_name"], relation=ident["relation"],
                        phone_enc=crypto.encrypt(ident["phone"]), phone_masked=mask_phone(ident["phone"]),
                        address=ident["address"],
                        consent_by="volunteer_for_guardian" if state["acting"] == "family" else "guardian")
        child = Child(family_id=0, name=ident["child_name"], id_enc=crypto.encrypt(number),
                      id_masked=mask_id(number), id_hash=id_hash, birth_date=birth)
        filed_at = utcnow()
        case = PreApplication(reference=repo.new_reference(s), family_id=0, child_id=0, filer_id=user.id,
                              region_input=facts.get("region", ""), place=place,
                              place_lineage="/" + "/".join(names) + "/" if names else "/",
                              facts_json=json.dumps(facts, ensure_ascii=False),
                              result_json=json.dumps(result, ensure_ascii=False),
                              kb_version=result.get("kb_version", ""), urgent=urgent,
                              duplicate_of=duplicate.reference if duplicate else None, idempotency_key=key,
                              answers_json=json.dumps(answers_record(state, facts, result), ensure_ascii=False),
                              categories=category_path(result), created_at=filed_at,
                              due_at=add_working_days(filed_at, office_limit(result, get_settings().desk_stale_days)))
        docs = [{"name": d["name"], "detail": d["detail"], "have": state["docs"].get(str(i))}
                for i, d in enumerate(result.get("documents", []))]
        repo.create_case(s, family=family, child=child, case=case, documents=docs, by=user)
        repo.audit(s, user_key=who.user_key, action="file", case_ref=case.reference,
                   detail=f"urgent={urgent} duplicate_of={case.duplicate_of or ''}")
        notices = []
        if urgent or duplicate:
            for staff in repo.staff_for_place(s, lineage=names):
                notices.append(Notice(staff.user_key, Reply("staff_alert", {
                    "reference": case.reference, "urgent": urgent, "place": place or case.region_input,
                    "danger": state.get("danger", []), "duplicate": case.duplicate_of,
                    "categories": [c["name"] for c in result.get("categories", [])]})))
        return self._case_view(case, result, alerted=bool(urgent and notices)), notices

    def my_cases(self, *, who: Who) -> list[dict[str, Any]]:
        s = self.session
        user = repo.get_or_create_user(s, user_key=who.user_key)
        cases = repo.cases_filed_by(s, user=user)
        children = repo.children_of(s, cases=cases)  # one statement each, however many cases
        requested = repo.requested_documents_of(s, cases=cases)
        out = []
        for case in cases:
            child = children.get(case.child_id)
            out.append({"reference": case.reference, "child": child.name if child else "", "status": case.status.value,
                        "updated": clock.local(case.updated_at, "%Y-%m-%d"), "reason": case.reason,
                        "department": case.department,
                        "requested": requested[case.id] if case.status == Status.needs_documents else []})
        repo.audit(s, user_key=who.user_key, action="status")
        return out

    def forget(self, *, who: Who) -> dict[str, Any]:
        """Delete the user's conversation and the personal data of cases not yet in the office's hands."""
        s = self.session
        user = repo.get_or_create_user(s, user_key=who.user_key)
        repo.delete_state(s, user_key=who.user_key)
        erased, kept = 0, 0
        for case in repo.cases_filed_by(s, user=user):
            if case.status in (Status.submitted, Status.refused):
                repo.delete_case(s, case=case)
                erased += 1
            else:
                kept += 1
        repo.audit(s, user_key=who.user_key, action="forget", detail=f"erased={erased} kept={kept}")
        return {"cases": erased, "kept": kept}

    def _case_view(self, case: PreApplication, result: dict[str, Any], *, alerted: bool) -> dict[str, Any]:
        """`alerted`: an urgent case whose alert is on its way to at least one staff member of the
        place.  Only then may the family be told that staff were alerted; an urgent case is marked
        (`urgent`) either way, and the queues show urgent cases first."""
        return {"reference": case.reference, "duplicate": case.duplicate_of, "urgent": case.urgent,
                "alerted": alerted, "office": office_of(result)}
