"""A told situation → proposed household facts, in the shape of ../shared/spec/facts.md.

    propose_facts("孩子爸爸前年去世了，妈妈在监狱还有三年")
    → {"father": {"situations": ["deceased"]},
       "mother": {"situations": ["incarcerated"], "remaining_months": 36}}

The family confirms or fixes them; the questionnaire then asks only what is still unknown. So
precision matters more than recall: a fact is proposed only where the text says it clearly, and
a doubtful one is left unknown rather than guessed.

How a message is read:
- It is cut into clauses (punctuation, spaces, 但是/而且 …). A clause with 如果/要是/假如 … is a
  hypothesis and proposes nothing.
- People: 爸爸/父亲/他爸/孩子爹/我老公 … are the father, 妈妈/母亲/他妈/孩子娘/我老婆/儿媳妇 … the
  mother, 爸妈/父母/他爸他妈 both; 孩子/娃/孙子/孙女 … the child; 爷爷/奶奶/后妈/继父/邻居 … other
  people (what is said of them is not said of a parent). When the speaker is a grandparent (孙子,
  我是孩子奶奶 …), 儿子/女婿 are the father and 女儿/儿媳 the mother; otherwise 儿子/女儿 are the child.
  A clause without a person continues with the last one named ("他爸判了5年，还剩两年半").
- Words that say a situation by themselves (去世, 服刑, 戒毒, 失联, 联系不上 …) may rest on that
  carried-over person; loose words (没了, 走了, 不在了, 跑了, 进去了, 没消息) need the parent named in
  the same clause. 走了 is 死亡 only with its cause (车祸走了, 得癌症走了) and no word of leaving, work
  or travel in the clause ("出去打工走了" is not death, "走了好几年没音讯" is 失联); "他爸前年走了"
  alone proposes nothing: died or left is asked, never guessed.
- Not proposed: 改嫁/再婚 (not a situation the policies know), 不管孩子 and 离婚 (prove nothing by
  themselves), 没有爸爸 (dead or never known?), 判了三年 alone (how much is left?), 快两年 (how
  many months?), 二级残疾 without a kind (facts need grade and kind).
- Negation: 不是低保户 → household.dibao false; 没有残疾 (of the child) → child.disability null;
  a negated situation ("没有去世") is simply not proposed.
- Numbers and durations go through zhtext.numbers (parse_months, parse_age).
- A parent given contradictory situations (去世 and 外出务工) gets none of them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from zhtext.danger import detect_danger_kinds
from zhtext.numbers import (AT_LEAST_SEVERAL_YEARS, SEVERAL_YEARS, chinese_number, parse_age, parse_disability,
                            parse_months)
from zhtext.places import find_place

# ----------------------------------------------------------------------------- people

FATHER, MOTHER, BOTH, CHILD, OTHER, SPEAKER = "father", "mother", "both", "child", "other", "speaker"
PARENTS = (FATHER, MOTHER)

_ROLE_WORDS: list[tuple[str, str]] = [
    # both parents
    *[(w, BOTH) for w in ("爸爸妈妈", "他爸他妈", "她爸她妈", "孩子爸妈", "孩子的爸妈", "孩子父母", "孩子的父母",
                          "他爸妈", "她爸妈", "爸妈", "爹妈", "爹娘", "父母亲", "父母", "两口子", "俩口子")],
    # the father
    *[(w, FATHER) for w in ("孩子的爸爸", "孩子爸爸", "孩子他爸", "孩子的爸", "孩子爸", "孩子的爹", "孩子他爹",
                            "孩子爹", "孩子的父亲", "孩子父亲", "他爸爸", "她爸爸", "娃他爸", "娃儿他爸", "他爸",
                            "她爸", "他爹", "她爹", "爸爸", "父亲", "老爸", "亲爸", "生父", "阿爸", "我老公",
                            "我丈夫", "我男人", "我家那口子", "爹", "爸")],
    # the mother
    *[(w, MOTHER) for w in ("孩子的妈妈", "孩子妈妈", "孩子他妈", "孩子的妈", "孩子妈", "孩子的娘", "孩子他娘",
                            "孩子娘", "孩子的母亲", "孩子母亲", "他妈妈", "她妈妈", "娃他妈", "娃儿他妈", "他妈",
                            "她妈", "他娘", "妈妈", "母亲", "老妈", "亲妈", "生母", "姆妈", "阿妈", "我老婆",
                            "我媳妇", "我妻子", "妈", "娘")],
    # other people: what is said of them is not said of a parent
    *[(w, OTHER) for w in ("后妈", "后娘", "继母", "后爸", "继父", "干爹", "干妈", "奶妈", "姨妈", "姑妈", "舅妈",
                           "大妈", "大娘", "姑娘", "新娘", "娘家", "爷爷", "奶奶", "外公", "外婆", "姥姥", "姥爷",
                           "爷奶", "公公", "婆婆", "老人", "亲戚", "邻居", "老师", "舅舅", "叔叔", "姑姑", "阿姨",
                           "伯伯", "大伯", "老两口", "两个老的", "哥哥", "姐姐", "弟弟", "妹妹", "他妈的")],
    # the child
    *[(w, CHILD) for w in ("孩子", "小孩子", "小孩", "娃娃", "娃儿", "小娃", "娃", "孙子", "孙女", "外孙女", "外孙",
                           "孙儿", "宝宝", "闺女", "孩儿", "囡囡", "幺儿", "小家伙")],
    *[(w, SPEAKER) for w in ("我们", "我", "俺们", "俺")],
]
_GRAND_CHILD_WORDS = ("儿子", "女儿")  # the child, unless a grandparent speaks
_GRAND_PARENT_WORDS = [("我儿子", FATHER), ("儿子", FATHER), ("女婿", FATHER), ("我女儿", MOTHER),
                       ("女儿", MOTHER), ("儿媳妇", MOTHER), ("儿媳", MOTHER), ("媳妇", MOTHER),
                       ("俺闺女", MOTHER), ("我闺女", MOTHER)]
GRANDPARENT_SPEAKER = re.compile(
    r"孙子|孙女|外孙|孙儿|儿媳|女婿|(我|俺)是(孩子|娃)?(的)?(奶奶|爷爷|外婆|外公|姥姥|姥爷)|(我|俺)(当|做)?(奶奶|爷爷|外婆|姥姥)|"
    r"(我|俺)的?(闺女|女儿|儿子)[^，。]{0,4}?(离婚|结婚|改嫁|嫁|娶|生了|生下|的孩子|的娃|家的|把(孩子|娃))|"
    r"(扔|丢|交|留|放)给(我们|我|俺)")
MOTHER_SPEAKER = re.compile(r"我老公|我丈夫|我男人|(我|俺)是(孩子|娃)的?(妈妈|妈|母亲)|我家那口子")
FATHER_SPEAKER = re.compile(r"我老婆|我媳妇|我妻子|(我|俺)是(孩子|娃)的?(爸爸|爸|父亲)")

CLAUSE_SPLIT = re.compile(r"[，。；！？,.;!?、\s…~～]+|但是|可是|不过|而且|然后|后来")
HYPOTHETICAL = re.compile(r"如果|要是|假如|万一|假设|假使|的话|会不会|是不是")
NEGATION = re.compile(r"(没有|没|不是|并非|并没有|并没|未|不)$")

# ----------------------------------------------------------------------------- situations

PRESENT = "present"  # not a situation of facts.md: what "他爸在家" says is `situations: []`
NUM = r"(?:\d+|[零〇一二两三四五六七八九十]+)"
DURATION = (r"(?:半年多?|" + NUM + r"年(?:半|多)?(?:零?" + NUM + r"个?多?月)?|" + NUM + r"个?多?月)")

# (regex, situation, strong): strong words may rest on a parent named in an earlier clause
SITUATIONS: list[tuple[str, str, bool]] = [
    (r"宣告(了)?失踪", "missing_declared", True),
    (r"撤销(了)?(他|她)?(的)?监护(资格|权|人资格)|剥夺(了)?(他|她)?(的)?监护权", "guardianship_revoked", True),
    (r"遣返|遣送|驱逐出境", "deported", True),
    (r"强制隔离戒毒|强制戒毒|强戒|戒毒所|(在|去)戒毒|吸毒(被)?(抓|关|判)", "drug_rehab", True),
    (r"坐牢|蹲(大)?牢|蹲监狱|坐监|服刑|在押|监狱|牢里|劳改|吃牢饭|判(了|过)?" + NUM + r"年", "incarcerated", True),
    (r"关进去|进去了|关着|遭关|被关(进去|起来|了)|关起来了|被判(了)?|判了刑|出狱|刑满|(就|才|快)(能)?(放)?出来",
     "incarcerated", False),  # 遭关了: 重庆话  # not with 看守所/没判
    (r"看守所|拘留", "restricted", True),
    (r"去世|过世|病逝|逝世|离世|死亡|死了|死掉|病死|亡故|已故|身故|牺牲|双亡", "deceased", True),
    (r"没了|不在了|走得早|老了", "deceased", False),
    (r"失联|联系不上|联系不到|找不到人|找不着人|不知去向|不知道去哪|不知道跑哪|下落不明|没有?音讯|音讯全无|"
     r"杳无音信|没有?联系过?|再也没有?回来|再没有?回来|一直没回来|从没回来过?|离家出走|玩失踪|人间蒸发", "unreachable", True),
    (r"人(也|都)?找不到|找不到(她|他)了?", "unreachable", True),
    (r"跑了|没有?消息|不见了|跟人跑", "unreachable", False),
    (r"(外出|出去|外地|在外|出门|外省|外面|南方|城里)[^，。]{0,6}?(打工|务工|上班|干活|挣钱|做工|做事)|外出务工|"
     r"打工去了|去(广东|浙江|上海|北京|深圳|广州|东莞|江苏|福建|新疆|外省)[^，。]{0,3}(打工|上班|干活)|"
     r"在(广东|浙江|上海|北京|深圳|广州|东莞|江苏|福建|新疆)[^，。]{0,3}(打工|上班|干活)", "works_away", True),
    (r"重病|癌|白血病|尿毒症|绝症|肿瘤|病重|病得很重|大病|瘫痪在床|瘫在床上", "serious_illness", True),
    (r"没有监护能力|无监护能力|没监护能力", "no_capacity", True),
    # at home looking after the child: none of the situations (a parent named in this clause only)
    (r"在家(里)?(带|照顾|管|看)(孩子|娃|小孩|他|她)|在(孩子)?身边|在家(里)?(?=$|了|呢|的|，|。)", PRESENT, False),
    (r"没有抚养能力|无抚养能力|没能力抚养|没有能力抚养", "unable_to_support", True),
]
_DEATH_UNLESS = ("打工", "务工", "外地", "外出", "出去", "出门", "上班", "干活", "挣钱", "回来", "离家", "跟人",
                 "跑", "音讯", "消息", "联系", "找不到", "不管", "改嫁", "离婚", "扔", "丢下", "给我们", "就走")
CONFLICTS = {"deceased": {"incarcerated", "drug_rehab", "restricted", "unreachable", "works_away",
                          "missing_declared", "deported", "guardianship_revoked"},
             "unreachable": {"works_away"}}
DEATH_CAUSE = re.compile(r"车祸|事故|意外|出事|病|癌|白血病|尿毒症|绝症|肿瘤|喝药|农药|自杀|淹|溺水|摔|触电|工伤|矿上|心脏")
SUPERSEDED = {"deceased": {"serious_illness"}}  # 得癌症走了: the parent died of the illness
NOT_CARING = re.compile(r"残|病|瘫|干不了|做不了|不能|没法|没办法|管不了|照顾不了|带不了|不管|不会|傻|精神|智力|喝酒|赌")

# a time span as told: a duration ("三年半"), or 好几年 — at least two years (zhtext.numbers.SEVERAL_YEARS),
# more than any rule asks, taken as that lower bound and said so to the family (`_span_months`)
SPAN = "(?:" + DURATION + "|" + SEVERAL_YEARS + ")"
REMAINING = [
    re.compile(r"(还有|还剩|还要|还得|剩下|剩|还差)(关|坐|蹲|服刑|戒)?(大概|差不多|约)?(" + SPAN + r")"),
    re.compile(r"(" + SPAN + r")(以)?后(才|就)?(能)?(出来|放出来|刑满)"),
]
SENTENCE_MINUS_SERVED = re.compile(
    r"判(了)?(" + DURATION + r")[^。]{0,12}?(已经|都)?(关|坐|蹲|服刑|服|待)了(" + DURATION + r")")
JUST_SENTENCED = re.compile(r"刚(刚)?(进去|判|关进去)[^。]{0,8}?判(了)?(" + DURATION + r")|判(了)?(" + DURATION +
                            r")[^。]{0,6}?刚(刚)?(进去|关进去)")
UNREACHABLE_MONTHS = [
    re.compile(r"(失联|联系不上|联系不到|跑了|走了|没有?消息|没有?音讯|没有?联系|没回来|不知去向|出走)(了)?(已经|都|有)?(" +
               SPAN + r")"),
    re.compile(r"(已经|都|有)?(" + SPAN + r")(了)?(多)?(都)?((没有?|不)(联系|消息|音讯|回来|回家|见过|露面)|联系不上|联系不到|找不到)"),
    re.compile(r"(" + SPAN + r")前(就)?(跑|走|离家|失联|出走)"),
    re.compile(r"(联系不上|失联)[^，。]{0,4}?(已经|都|有)(" + SPAN + r")"),
    re.compile(r"(已经|都|有)(" + SPAN + r")(多)?(了)?$"),
]

# ----------------------------------------------------------------------------- child, household, place

SCHOOL = [
    (r"职高|中职|技校|中专|职校|职业学校|职业高中", "vocational"),
    (r"初一|初二|初三|初中|七年级|八年级|九年级", "junior"),
    (r"高一|高二|高三|高中", "senior"),
    (r"大学|大专|本科|读研|研究生", "higher"),
    (r"幼儿园", "preschool"),
    (r"[一二三四五六1-6]年级|小学", "primary"),
    (r"辍学|不上学了|没上学|没读书了|不读书了|没去上学", "none"),
]
LIVING = [
    (r"福利院|儿童福利机构|孤儿院", "institution"),
    (r"流浪|睡大街|在街上要饭|乞讨", "street"),
    (r"一个人(在家)?(住|生活|过)|独自(在家)?(住|生活)|自己一个人(住|过|生活)|一个人在家", "alone"),
    (r"跟(着|到)?[^，。]{0,4}?(爷爷|奶奶|外公|外婆|姥姥|姥爷|爷奶|老人|亲戚|姑姑|舅舅|叔叔|伯伯|大伯|姨|老两口|两个老的)|"
     r"(爷爷|奶奶|外婆|姥姥|外公|姥爷|老人|亲戚|姑姑|舅舅|叔叔|伯伯)(在)?(带|养|照顾|照看|抚养|管着)|"
     r"寄养在|放在(亲戚|爷爷|奶奶|外婆|姥姥)家|(在|住在|住)(爷爷|奶奶|外婆|姥姥|外公|姥爷|亲戚|姑姑|舅舅|叔叔|伯伯)家",
     "relatives"),
    (r"跟(着)?(爸爸|妈妈|他爸|他妈|她爸|她妈|父亲|母亲)(一起)?(住|生活|过)", "family"),
]
HOUSEHOLD = [  # (regex, key); matched in this order; the first words are masked for the next
    (r"低保边缘户?|低保边缘家庭|低边户?|边缘户", "dibao_edge"),
    (r"低保户|低保家庭|低保对象|吃低保|有低保|享受低保|拿低保|领低保|办了低保|低保", "dibao"),
    (r"低收入(家庭|户)?", "low_income"),
    (r"特困户|特困人员|特困供养|五保户|五保|特困", "tekun"),
    (r"防止返贫监测|防返贫|返贫监测|监测户|监测对象", "poverty_monitoring"),
]
WANTING = re.compile(r"(想|要|准备|打算|能不能|可不可以|可以|怎么|如何|去)(申请|办|评|吃|拿|领)[^，。]{0,2}$")
HARDSHIP = re.compile(r"(家里|家庭|生活|日子)(很|特别|比较|非常|太|挺)?(穷|困难|苦|难过)|揭不开锅|看不起病|上不起学|"
                      r"欠了?(好多|很多|一屁股|不少)?(钱|债)|没有?(收入|生活来源)|没钱|没有钱")
SUDDEN = re.compile(r"房子(被|让)?(烧|塌|冲)|火灾|着火|失火|洪水|地震|泥石流|被水冲")
CHILD_ILLNESS = re.compile(r"白血病|癌|尿毒症|先天性心脏病|先心病|地中海贫血|地贫|血友病|重病|大病|肿瘤|绝症")
AUTISM = re.compile(r"自闭症|孤独症|自闭")
HIV = re.compile(r"艾滋|hiv|HIV")
RURAL_TRUE = re.compile(r"农村|乡下|(住在|住|在)村里|村里住|山里")
RURAL_FALSE = re.compile(r"城镇户口|城市户口|非农户口")
HUKOU_FALSE = re.compile(r"外地户口|户口不在(这|本地|这里|这边)|户口在老家|不是本地户口|户口是外地")
HUKOU_TRUE = re.compile(r"本地户口|户口(在|就在)(这|本地|这里|这边)|户口是本地")
HERE = re.compile(r"在这边|在这里|在这儿|住在这|来这|在本地")
CERT_TRUE = re.compile(r"有残疾(人)?证|办了残疾(人)?证|持证|有证|办了证|二代证")
CERT_FALSE = re.compile(r"没(有)?办?残疾(人)?证|没(有)?证|还没办证|没办证")
NO_DISABILITY = re.compile(r"(没有|没|不是|无)残疾|不残疾")
DISABILITY = re.compile(r"(?:[一二三四1-4]级)[^，。]{0,3}?(?:视力|听力|言语|肢体|智力|精神|多重)|"
                        r"(?:视力|听力|言语|肢体|智力|精神|多重)(?:残疾|残)?[^，。]{0,2}?[一二三四1-4]级")
AGE_PATTERNS = [
    re.compile(r"(今年|现在|已经|才|刚)?(满)?(" + NUM + r")(周)?岁(半|多)?"),
]
AGE_MONTHS = re.compile(r"(才|刚|刚刚)?(满)?(" + NUM + r")个(多)?月(大)?")
BARE_AGE = re.compile(r"^(今年|现在)?(才|刚)?(" + NUM + r")了$")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class _Reader:
    def __init__(self, text: str):
        self.text = _norm(text)
        self.grand = bool(GRANDPARENT_SPEAKER.search(self.text))
        self.speaker = MOTHER if MOTHER_SPEAKER.search(self.text) else FATHER if FATHER_SPEAKER.search(
            self.text) else OTHER
        words = list(_ROLE_WORDS)
        if self.grand:
            words += _GRAND_PARENT_WORDS
        else:
            words += [(w, CHILD) for w in _GRAND_CHILD_WORDS]
        self.role_words = sorted(words, key=lambda wr: -len(wr[0]))
        self.facts: dict[str, Any] = {}
        self.at_least: set[str] = set()  # paths whose number is a lower bound (好几年: at least 24 months)
        self.parent_situations: dict[str, list[str]] = {FATHER: [], MOTHER: []}
        self.not_caring: set[str] = set()  # 在家，腿瘸了干不了活: at home, but not that nothing is wrong
        self.subject: str | None = None
        self.previous_clause = ""

    # -- helpers
    def mentions(self, clause: str) -> list[tuple[int, int, str]]:
        out = []
        i = 0
        while i < len(clause):
            for word, role in self.role_words:
                if clause.startswith(word, i):
                    if role == SPEAKER:
                        role = self.speaker if self.speaker in PARENTS else (OTHER if self.grand else SPEAKER)
                    out.append((i, i + len(word), role))
                    i += len(word)
                    break
            else:
                i += 1
        merged: list[tuple[int, int, str]] = []
        for m in out:  # 他爸他妈 / 他爸和他妈 / 爸爸、妈妈: both parents
            if merged and {merged[-1][2], m[2]} == {FATHER, MOTHER} and \
                    clause[merged[-1][1]:m[0]] in ("", "和", "跟", "与", "、", "还有", "以及"):
                merged[-1] = (merged[-1][0], m[1], BOTH)
            else:
                merged.append(m)
        return merged

    def subject_at(self, clause: str, pos: int, mentions, carried: str | None) -> str | None:
        before = [m for m in mentions if m[1] <= pos]
        if before:
            return before[-1][2]
        return carried

    def set(self, path: str, value: Any) -> None:
        cur = self.facts
        parts = path.split(".")
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = value

    def set_months(self, path: str, months: int, at_least: bool) -> None:
        self.set(path, months)
        (self.at_least.add if at_least else self.at_least.discard)(path)

    def roles(self, who: str | None) -> list[str]:
        if who == BOTH:
            return [FATHER, MOTHER]
        if who in PARENTS:
            return [who]
        return []

    # -- reading
    def read(self) -> dict[str, Any]:
        clauses = [c for c in CLAUSE_SPLIT.split(self.text) if c]
        carried: str | None = None
        last_parents: list[str] = []
        for clause in clauses:
            mentions = self.mentions(clause)
            if HYPOTHETICAL.search(clause):
                carried = mentions[-1][2] if mentions else carried
                continue
            last_parents = self.read_parents(clause, mentions, carried, last_parents)
            self.read_child(clause, mentions, carried)
            self.read_household(clause)
            if mentions:  # the next clause goes on about this clause's topic: its first person
                carried = mentions[0][2]
            self.previous_clause = clause
        self.read_region()
        self.read_safety()
        return self.finish()

    def negated(self, clause: str, start: int) -> bool:
        return bool(NEGATION.search(clause[max(0, start - 3):start]))

    def read_parents(self, clause: str, mentions, carried: str | None, last_parents: list[str]) -> list[str]:
        touched: list[str] = []
        taken: list[tuple[int, int]] = []
        for regex, situation, strong in SITUATIONS:
            for m in re.finditer(regex, clause):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                if self.negated(clause, m.start()):
                    continue
                in_clause = [x for x in mentions if x[1] <= m.start()]
                who = self.subject_at(clause, m.start(), mentions, carried if strong else None)
                if not strong and not in_clause:
                    who = None
                if situation == "deceased" and m.group(0) == "老了" and who not in (FATHER, MOTHER, BOTH):
                    continue
                if situation == "unreachable" and m.group(0) == "跑了" and re.match(r"跑了(一|几|好几|两)?趟",
                                                                                  clause[m.start():]):
                    continue
                if situation == "incarcerated" and re.search(r"缓刑|看守所|拘留|没判|没有判|还没宣判", clause):
                    continue
                for role in self.roles(who):
                    if situation not in self.parent_situations[role]:
                        self.parent_situations[role].append(situation)
                    touched.append(role)
                if self.roles(who):
                    taken.append((m.start(), m.end()))
        trouble = NOT_CARING.search(clause)
        if trouble:
            self.not_caring.update(self.roles(self.subject_at(clause, trouble.start(), mentions, carried)))
        # 走了: died or left? death only with its cause in the clause (车祸走了, 得癌症走了, 喝药走了) and
        # no word of leaving, of a parent named here; else nothing is proposed and the question asks
        for m in re.finditer(r"走了", clause):
            if any(u in clause for u in _DEATH_UNLESS) or self.negated(clause, m.start()) \
                    or not DEATH_CAUSE.search(clause[:m.start()]):
                continue
            who = self.subject_at(clause, m.start(), [x for x in mentions if x[1] <= m.start()], None)
            for role in self.roles(who):
                if "deceased" not in self.parent_situations[role]:
                    self.parent_situations[role].append("deceased")
                touched.append(role)
        # parents' disability: grade and kind both needed
        for m in DISABILITY.finditer(clause):
            who = self.subject_at(clause, m.start(), mentions, carried)
            parsed = parse_disability(m.group(0))
            if isinstance(parsed, dict):
                for role in self.roles(who):
                    self.set(f"{role}.disability", parsed)
        # HIV of a parent: the child is affected
        if HIV.search(clause):
            who = self.subject_at(clause, HIV.search(clause).start(), mentions, carried)
            if self.roles(who) and not self.negated(clause, HIV.search(clause).start()):
                self.set("child.hiv", "affected") if self.facts.get("child", {}).get("hiv") != "infected" else None
        self.read_durations(clause, mentions, carried, touched or last_parents)
        return touched or ([r for r in self.roles(carried)] if not mentions else last_parents)

    def read_durations(self, clause: str, mentions, carried: str | None, candidates: list[str]) -> None:
        who = mentions[-1][2] if mentions else carried
        roles = self.roles(who) or candidates
        jailed = [r for r in roles if {"incarcerated", "drug_rehab", "restricted"} & set(self.parent_situations[r])]
        if not jailed:
            jailed = [r for r in PARENTS if {"incarcerated", "drug_rehab"} & set(self.parent_situations[r])
                      and not self.roles(who)]
        months = None
        m = SENTENCE_MINUS_SERVED.search(self.previous_clause + "，" + clause)
        if m:
            total, served = parse_months(_months_text(m.group(2))), parse_months(_months_text(m.group(5)))
            if total is not None and served is not None and total > served:
                months = total - served
        at_least = False
        for regex in REMAINING:
            m2 = regex.search(clause)
            if m2 and months is None:
                months, at_least = _span_months(next(g for g in m2.groups() if g and re.fullmatch(SPAN, g)))
        m3 = JUST_SENTENCED.search(clause)
        if m3 and months is None:
            dur = next(g for g in m3.groups() if g and re.fullmatch(DURATION, g))
            months = parse_months(_months_text(dur))
        if months is not None and len(jailed) >= 1 and not _approximate(clause):
            for role in jailed:
                self.set_months(f"{role}.remaining_months", months, at_least)
        lost = [r for r in (self.roles(who) or candidates) if "unreachable" in self.parent_situations[r]]
        if not lost:
            return
        for regex in UNREACHABLE_MONTHS:
            m4 = regex.search(clause)
            if m4:
                dur = next((g for g in m4.groups() if g and re.fullmatch(SPAN, g)), None)
                value, at_least = _span_months(dur) if dur else (None, False)
                if value is not None and not _approximate(clause):
                    for role in lost:
                        self.set_months(f"{role}.unreachable_months", value, at_least)
                break

    def child_clause(self, mentions, carried: str | None) -> bool:
        """The clause speaks of the child: the child named, or nobody named after the child."""
        roles = [m[2] for m in mentions]
        if roles:
            return roles[-1] == CHILD or (CHILD in roles and not any(r in (FATHER, MOTHER, BOTH) for r in roles))
        return carried == CHILD

    def read_child(self, clause: str, mentions, carried: str | None) -> None:
        child_here = self.child_clause(mentions, carried)
        adults = [m for m in mentions if m[2] in (FATHER, MOTHER, BOTH, OTHER, SPEAKER)]
        # nobody named here: the clause goes on about whoever was named before (the child or nobody)
        about_child = child_here or (not mentions and carried in (None, CHILD))
        # age
        m = AGE_MONTHS.search(clause)
        if m and about_child and "岁" not in clause:
            value = chinese_number(m.group(3))
            if value is not None and value < 12 and re.search(r"孩子|宝宝|娃|孙|小孩|才|刚", clause) and \
                    not re.search(r"还有|还剩|联系|失联|跑|判|关|坐牢|服刑|前", clause):
                self.set("child.age_months", value)
        for regex in AGE_PATTERNS:
            for m in regex.finditer(clause):
                before = [x for x in mentions if x[1] <= m.start()]
                subject = before[-1][2] if before else carried
                if subject != CHILD and not (subject is None and m.group(1) in ("今年", "现在")):
                    continue
                age = parse_age(m.group(3) + "岁")
                if age is not None and age <= 30:
                    self.set("child.age", age)
        if "岁" not in clause and mentions and mentions[-1][2] == CHILD:
            rest = clause[mentions[-1][1]:]
            m = BARE_AGE.match(rest)
            if m:
                age = chinese_number(m.group(3))
                if age is not None and age <= 17:
                    self.set("child.age", age)
        # school: of the child only
        if about_child and "毕业" not in clause:
            for regex, stage in SCHOOL:
                m = re.search(regex, clause)
                if m and not self.negated(clause, m.start()) and not re.search(r"以后|将来|明年|想上|考", clause[:m.start()]):
                    self.set("child.school_stage", stage)
                    break
        # living
        for regex, living in LIVING:
            m = re.search(regex, clause)
            if not m or self.negated(clause, m.start()):
                continue
            if living in ("alone", "street") and not child_here:
                continue
            if living == "family" and self.grand:
                continue
            if living == "relatives" and re.search(r"借住|全家|一家人|我们家", clause):
                continue  # the family lodging with relatives: the child still lives with them
            if living == "relatives" and any(x[2] in (FATHER, MOTHER, BOTH) for x in mentions if x[1] <= m.start()) \
                    and not child_here:
                continue
            self.set("child.living", living)
            break
        if self.grand and re.search(r"(跟|和)(着|到)?(我|我们|俺)(老两口|两个老的)?(一起)?(住|生活|过)|(我|我们|俺)(在)?(带|养|照顾)(着)?(他|她|孩子|孙)|"
                                    r"(扔|丢|交|留|放)给(我们|我|俺)", clause):
            self.set("child.living", "relatives")
        # disability, autism, illness, HIV of the child
        if about_child:
            m = NO_DISABILITY.search(clause)
            if m:
                self.set("child.disability", None)
            else:
                for m in DISABILITY.finditer(clause):
                    parsed = parse_disability(m.group(0))
                    if isinstance(parsed, dict):
                        if CERT_FALSE.search(self.text):
                            parsed["certificate"] = False
                        elif CERT_TRUE.search(self.text):
                            parsed["certificate"] = True
                        self.set("child.disability", parsed)
            m = AUTISM.search(clause)
            if m:
                self.set("child.autism", not self.negated(clause, m.start()))
            m = CHILD_ILLNESS.search(clause)
            if m and not self.negated(clause, m.start()) and child_here:
                self.set("child.serious_illness", True)
            m = HIV.search(clause)
            if m and child_here and not self.negated(clause, m.start()):
                self.set("child.hiv", "infected")
        # rural, 户籍
        if RURAL_FALSE.search(clause):
            self.set("child.rural", False)
        elif RURAL_TRUE.search(clause) and not re.search(r"村(委|干部|主任|里的人)", clause):
            self.set("child.rural", True)
        if HUKOU_FALSE.search(clause):
            self.set("child.hukou_local", False)
            if HERE.search(self.text):
                self.set("migrant", True)
        elif HUKOU_TRUE.search(clause):
            self.set("child.hukou_local", True)

    def read_household(self, clause: str) -> None:
        masked = clause
        for regex, key in HOUSEHOLD:
            for m in re.finditer(regex, masked):
                if WANTING.search(masked[:m.start()]) or re.search(r"^(申请|能不能|行不行|吗)", masked[m.end():]):
                    continue
                # "低保家庭的孩子能领多少" asks about such families in general, not about this one
                if re.match(r"(户|家庭)?的(孩子|娃|小孩|儿童|孙子|孙女)", masked[m.end():]) and \
                        not re.search(r"我们|我家|俺家|咱家|家里|是", masked[:m.start()]):
                    continue
                before = masked[max(0, m.start() - 6):m.start()]
                neg = re.search(r"(不是|没有|没|没吃|没办|没评上|没申请|不算|不够)[^，。]{0,3}$", before)
                cancelled = re.match(r"(被)?(取消|停)", masked[m.end():])
                self.set(f"household.{key}", not (neg or cancelled))
            masked = re.sub(regex, lambda mm: "#" * len(mm.group(0)), masked)
        if HARDSHIP.search(clause) and not re.search(r"(不|没)(算|是|太)?(穷|困难)", clause):
            self.set("household.hardship", True)
        if SUDDEN.search(clause):
            self.set("household.sudden_crisis", True)

    def read_region(self) -> None:
        """The family's place: a place named where the family says where it lives (我们在/是…的,
        住在, 家在, 户口) comes first; a place named for work, travel or a hospital does not count."""
        found_places = []
        for i, clause in enumerate(CLAUSE_SPLIT.split(self.text)):
            if not clause or HYPOTHETICAL.search(clause) or re.search(r"去了|到了|出差|医院|住院|看病", clause):
                continue
            # a parent working somewhere is not where the family lives; the family working there is
            parent_named = any(m[2] in (FATHER, MOTHER, BOTH) for m in self.mentions(clause))
            if parent_named and re.search(r"打工|务工|上班|干活|挣钱", clause):
                continue
            found = find_place(clause)
            if found:
                home = bool(re.search(r"我们|我家|俺|家在|住在|住|户口|老家|本地|是.*的$", clause))
                hukou = (False if re.search(r"(户口|户籍)(不在|不是)", clause) else
                         True if re.search(r"(户口|户籍)(就|也|都)?(在|是|落在)", clause) and not re.search(r"外地", clause)
                         else None)
                found_places.append((not home, i, found[0], hukou))
        if found_places:
            best = min(found_places)
            self.set("region", best[2])
            if best[3] is not None:  # 户口在温岭 / 户口不在温岭: the 户口 question is answered too
                self.set("child.hukou_local", best[3])

    def read_safety(self) -> None:
        text = self.text
        for phrase, kind, pos in detect_danger_kinds(text):
            if self.negated(text, pos) or HYPOTHETICAL.search(text[max(0, pos - 8):pos]):
                continue
            if kind in ("abuse", "sexual"):
                self.set("safety.abused", True)
            elif kind == "neglect":
                self.set("safety.neglected", True)
            elif kind == "abandon":
                self.set("safety.abandoned", True)
        if re.search(r"(被)?拐(卖|走)?[^。]{0,12}(解救|救回|找回|救出|送回)", text):
            self.set("safety.trafficking_rescued", True)

    def finish(self) -> dict[str, Any]:
        for role in PARENTS:
            sits = self.parent_situations[role]
            for a, gone in SUPERSEDED.items():
                if a in sits:
                    sits = [x for x in sits if x not in gone]
            for a, clashing in CONFLICTS.items():
                if a in sits and clashing & set(sits):
                    sits = []
                    break
            if PRESENT in sits:  # at home, unless another situation or a trouble was told of this parent
                sits = [x for x in sits if x != PRESENT]
                if not sits and role not in self.not_caring:
                    self.set(f"{role}.situations", [])
                    continue
            if sits:
                self.set(f"{role}.situations", sits)
            parent = self.facts.get(role)
            if parent is not None and not sits:  # durations without their situation mean nothing
                parent.pop("remaining_months", None)
                parent.pop("unreachable_months", None)
                parent.pop("situations", None)
                if not parent:
                    del self.facts[role]
            if parent is not None and sits:
                if "remaining_months" in parent and not {"incarcerated", "drug_rehab", "restricted"} & set(sits):
                    del parent["remaining_months"]
                if "unreachable_months" in parent and "unreachable" not in sits:
                    del parent["unreachable_months"]
        return self.facts


def _months_text(duration: str) -> str:
    """parse_months does not read "三个多月": a month count "多" is left out (floor)."""
    return duration.replace("个多月", "个月").replace("多月", "月")


def _span_months(span: str) -> tuple[int | None, bool]:
    """(months, whether they are a lower bound) of a SPAN: "三年" (36, False), "好几年" (24, True)."""
    if re.fullmatch(SEVERAL_YEARS, span):
        return AT_LEAST_SEVERAL_YEARS, True
    return parse_months(_months_text(span)), False


def _approximate(clause: str) -> bool:
    """快两年 / 将近 / 差不多: how many months is not said."""
    return bool(re.search(r"快(要)?" + NUM + r"?(年|个月)|将近|接近|不到", clause))


def propose_facts(text: str) -> dict[str, Any]:
    """The facts `text` clearly supports, as a nested dict in the shape of facts.md (only keys the
    text supports; no region unless a place is named)."""
    return read_story(text)[0]


def read_story(text: str) -> tuple[dict[str, Any], set[str]]:
    """(the facts `text` clearly supports, the paths among them whose number is a lower bound:
    "跑了好几年" is at least 24 months, and is said so to the family)."""
    if not text or not text.strip():
        return {}, set()
    reader = _Reader(text)
    facts = reader.read()
    return facts, {p for p in reader.at_least if _has(facts, p)}


def _has(facts: dict[str, Any], path: str) -> bool:
    head, _, tail = path.partition(".")
    return tail in facts.get(head, {})
