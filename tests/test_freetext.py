"""Free text: answers from the knowledge base, proposed facts, danger words, `ask` on the command line.

The evaluation sets are tests/freetext/questions.yaml and situations.yaml; the numbers asserted
here are the level reached (python -m freetext.evaluate prints them), so a change that makes the
matcher or the intake worse fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED, needs_shared
from freetext import evaluate
from freetext.danger import detect_danger
from freetext.intake import propose_facts
from freetext.matcher import THRESHOLD, answer_question, find_place, get_index, load_qa
from freetext.text import analyse, split_pinyin, table
from policy_kb.loader import load_kb
from screening.facts import FactsError, parse_facts

LOCAL_FILES = {
    "温市委办发〔2023〕24号": "policy_sources/wenling-2023.txt",
    "通市政办发〔2017〕21号": "policy_sources/tonghua-2017.txt",
    "綦江府办发〔2017〕91号": "policy_sources/qijiang-2017.txt",
    "门政办发〔2017〕69号": "policy_sources/mentougou-2017.txt",
    "渝民规〔2025〕17号": "policy_sources/chongqing-2025.txt",
}
OFF_TOPIC = ["今天天气怎么样", "帮我推荐一只股票", "红烧肉怎么做才好吃", "给我讲个笑话", "明天几点去火车站",
             "你是男的还是女的", "怎么用微信视频", "附近哪里有卖手机的", "今天星期几"]


def _norm(text: str) -> str:
    """White space, full-/half-width forms and the baseline page's **bold** marks forgiven."""
    return "".join(unicodedata.normalize("NFKC", text).replace("**", "").split())


# ----------------------------------------------------------------------------- evaluation numbers


@pytest.fixture(scope="module")
def question_numbers():
    return evaluate.evaluate_questions()


@pytest.fixture(scope="module")
def situation_numbers():
    return evaluate.evaluate_situations()


def test_evaluation_sets_are_big_enough(question_numbers, situation_numbers):
    items = yaml.safe_load(evaluate.QUESTIONS.read_text(encoding="utf-8"))
    off = [q for q in items if q["expect"] == "not_sure"]
    assert len(items) - len(off) >= 60 and len(off) >= 5
    assert situation_numbers["situations"] >= 30


def test_question_accuracy_holds(question_numbers):
    # level reached (all sets together): top1 0.84, top3 0.98, off-topic 0.84 (16/19: the three
    # misses are in-domain questions the texts do not answer, e.g. 低保户能不能买车)
    assert question_numbers["top3"] >= 0.95, question_numbers["_misses"]
    assert question_numbers["top1"] >= 0.80, question_numbers["_misses"]
    assert question_numbers["not_sure_correct"] >= 0.80, question_numbers["_misses"]


def test_fact_precision_and_recall_hold(situation_numbers):
    assert situation_numbers["fact_precision"] >= 0.98, situation_numbers["_misses"]
    assert situation_numbers["fact_recall"] >= 0.95, situation_numbers["_misses"]


def test_flatten_compares_situations_one_by_one():
    flat = evaluate.flatten({"father": {"situations": ["deceased", "unreachable"], "remaining_months": 3},
                             "child": {"disability": None}})
    assert flat == {("father.situations[]", "deceased"), ("father.situations[]", "unreachable"),
                    ("father.remaining_months", 3), ("child.disability", None)}


# ----------------------------------------------------------------------------- not sure


@pytest.mark.parametrize("text", OFF_TOPIC)
def test_off_topic_is_not_sure_and_invents_nothing(text):
    result = answer_question(text)
    assert result["not_sure"] is True
    assert result["answers"] == []
    assert "乡镇" in result["whom_to_ask"] or "12345" in result["whom_to_ask"]


def test_empty_question_is_not_sure():
    assert answer_question("")["not_sure"] is True
    assert answer_question("？？？")["not_sure"] is True


def test_answers_carry_their_source_and_at_most_three():
    result = answer_question("孩子爸爸坐牢了，妈妈跑了，能领多少钱", region="温岭")
    assert not result["not_sure"]
    assert 1 <= len(result["answers"]) <= 3
    for a in result["answers"]:
        assert a["title"] and a["text"] and a["score"] >= THRESHOLD
        assert set(a["source"]) >= {"document", "clause", "quote"}


# ----------------------------------------------------------------------------- places


def test_region_drops_other_places():
    for region, allowed in (("通化", {"tonghua-2017"}), ("綦江", {"qijiang-2017", "chongqing-2025"}),
                            ("温岭", {"wenling-2023"})):
        index = get_index()
        result = answer_question("孤儿上学有什么优惠，医保怎么交", region=region)
        for a in result["answers"]:
            entry = index.by_id[a["id"]]
            assert entry.region is None or entry.region in allowed, (region, a["id"])


def test_place_outside_the_packs_gets_national_rules_only():
    result = answer_question("孤儿一个月能领多少钱", region="广州")
    assert result["answers"]
    assert all(get_index().by_id[a["id"]].region is None for a in result["answers"])


def test_place_named_in_the_question_is_followed():
    result = answer_question("温岭低保户的小孩每个月能多拿多少钱")
    assert result["answers"][0]["place"] == "温岭"
    assert "wenling" in result["answers"][0]["id"] or result["answers"][0]["id"].startswith("wl-")
    assert find_place("我们是綦江的")[0] == "綦江"
    assert find_place("wenling gu er") is not None
    assert find_place("太平洋保险") is None  # 太平 alone is not a place


def test_typed_pinyin_and_homophones():
    assert split_pinyin("wenlingguer") == ["wen", "ling", "gu", "er"]
    assert answer_question("wenling gu er you duoshao qian")["answers"][0]["id"] == "wl-orphan-money"
    assert "服刑在押" in analyse("孩子他爸做牢了").concepts  # 做牢 sounds like 坐牢
    assert "留守儿童" in analyse("留首儿童").concepts
    assert "服刑在押" not in analyse("今天星期几").concepts  # 星期 is a word, not a typo of 刑期


def test_synonym_table():
    tab = table()
    assert tab.words["坐牢"] == "服刑在押" and tab.words["戒毒所"] == "强制隔离戒毒"
    assert tab.words["过世"] == "死亡" and tab.words["联系不上"] == "失联"
    assert tab.words["低保户"] == "最低生活保障" and tab.words["自闭症"] == "孤独症"
    assert tab.words["残疾证"] == "残疾人证"
    assert "死亡" in analyse("他爸前年走了").concepts
    assert "死亡" not in analyse("他爸出去打工走了").concepts  # 走了 read with its context
    assert "改嫁" not in tab.words  # stays as it is
    raw = yaml.safe_load((REPO / "freetext" / "synonyms.yaml").read_text(encoding="utf-8"))
    words = [w for v in raw["terms"].values() for w in v]
    assert len(words) == len(set(words)), "a word listed under two terms"


# ----------------------------------------------------------------------------- qa.yaml


def test_qa_entries_are_well_formed():
    entries = load_qa()
    packs = set(load_kb().packs)
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids))
    assert 40 <= len(entries) <= 80
    for e in entries:
        assert len(e["questions"]) >= 3, e["id"]
        assert e["answer"].strip() and e["title"].strip()
        assert e["region"] is None or e["region"] in packs, e["id"]
        assert {"document", "clause", "quote"} <= set(e["source"]), e["id"]


LATIN_RUN = re.compile(r"[A-Za-z]{4,}")


def test_no_latin_words_in_what_families_see():
    """Families read Chinese: no quote, clause or document name carries a run of 4+ Latin letters."""
    for e in load_qa():
        for key in ("quote", "clause", "document"):
            value = str(e["source"].get(key) or "")
            assert not LATIN_RUN.search(value), (e["id"], key, value[:40])


@needs_shared()
def test_every_qa_quote_stands_in_its_source():
    texts = {doc: _norm((SHARED / path).read_text(encoding="utf-8")) for doc, path in LOCAL_FILES.items()}
    national = _norm((SHARED / "spec" / "national-baseline.zh.md").read_text(encoding="utf-8"))
    for e in load_qa():
        src = e["source"]
        text = texts.get(src["document"], national)
        assert _norm(src["quote"]) in text, (e["id"], src["quote"][:40])
        if src["document"] in texts:
            assert e["region"] is not None, e["id"]


@needs_shared()
def test_no_number_in_an_answer_that_its_document_does_not_state():
    """Every figure in an answer (80%, 200元, 15个工作日 …) stands in the cited text."""
    texts = {doc: _norm((SHARED / path).read_text(encoding="utf-8")) for doc, path in LOCAL_FILES.items()}
    national = _norm((SHARED / "spec" / "national-baseline.zh.md").read_text(encoding="utf-8"))
    for e in load_qa():
        text = texts.get(e["source"]["document"], national)
        if e["id"].startswith("qj-"):  # 綦江 answers may cite the newer municipal figures too
            text += texts["渝民规〔2025〕17号"]
        for number in re.findall(r"\d+(?:\.\d+)?", _norm(e["answer"])):
            if number in {"0", "6", "12345", "12355", "12338", "110"} and number in national + text:
                continue
            assert number in text, (e["id"], number)


# ----------------------------------------------------------------------------- proposed facts


def _validate(facts: dict) -> dict:
    return parse_facts({"region": "温岭", **facts} if "region" not in facts else facts)


def test_every_proposed_fact_validates():
    texts = [s["text"] for s in yaml.safe_load(evaluate.SITUATIONS.read_text(encoding="utf-8"))]
    texts += [q["text"] for q in yaml.safe_load(evaluate.QUESTIONS.read_text(encoding="utf-8"))]
    texts += ["孩子三个多月大", "孩子19岁", "他爸判了10年已经坐了3年", "孩子一级智力残疾，有残疾证",
              "孩子没有残疾", "他妈在监狱还剩半年多", "他爸失联一年半了"]
    for text in texts:
        facts = propose_facts(text)
        try:
            _validate(facts)
        except FactsError as exc:  # pragma: no cover - the message names the text
            pytest.fail(f"{text}: {exc}")


@pytest.mark.parametrize("text,expected", [
    ("孩子爸爸前年去世了，妈妈在监狱还有三年",
     {"father": {"situations": ["deceased"]}, "mother": {"situations": ["incarcerated"], "remaining_months": 36}}),
    ("他爸判了5年还剩两年半", {"father": {"situations": ["incarcerated"], "remaining_months": 30}}),
    ("孩子他妈联系不上一年多了", {"mother": {"situations": ["unreachable"], "unreachable_months": 12}}),
    ("他妈在戒毒所还有一年半", {"mother": {"situations": ["drug_rehab"], "remaining_months": 18}}),
    ("他爸在监狱还有8个月", {"father": {"situations": ["incarcerated"], "remaining_months": 8}}),
    ("孩子他妈跑了半年多了", {"mother": {"situations": ["unreachable"], "unreachable_months": 6}}),
    ("我们不是低保户", {"household": {"dibao": False}}),
    ("孩子没有残疾", {"child": {"disability": None}}),
    ("孩子8岁，上三年级", {"child": {"age": 8, "school_stage": "primary"}}),
    ("孩子二级肢体残疾", {"child": {"disability": {"grade": 2, "kind": "肢体"}}}),
    ("孩子是自闭症", {"child": {"autism": True}}),
    ("他爸出去打工走了", {"father": {"situations": ["works_away"]}}),  # 走了 here is leaving, not death
    ("他爸前年车祸走了", {"father": {"situations": ["deceased"]}}),
    ("他爸前年走了", {}),  # died or left? asked, never guessed
    ("孩子他爸去世了，户口在温岭", {"region": "温岭", "child": {"hukou_local": True},
                            "father": {"situations": ["deceased"]}}),
    ("孩子户口不在温岭", {"region": "温岭", "child": {"hukou_local": False}}),
    ("孩子他爸去年过完年就走了，快一年了", {}),
    ("我们在温岭，孩子跟爷爷奶奶住在农村", {"region": "温岭", "child": {"living": "relatives", "rural": True}}),
])
def test_propose_facts_examples(text, expected):
    assert propose_facts(text) == expected


@pytest.mark.parametrize("text", [
    "我今年65岁了，带着孙子",        # the speaker's age is not the child's
    "孩子他爸为了这事跑了一趟乡镇",    # 跑了一趟 is an errand
    "我们想申请低保",                # wanting 低保 is not having it
    "他爸判了缓刑",                  # probation is not prison
    "爷爷去世了",                   # a grandparent, not a parent
    "如果孩子爸爸坐牢的话，能申请吗",   # a hypothesis
    "孩子他爸没有坐牢",              # negated
    "他妈改嫁了",                   # remarriage is no situation of the policies
    "孩子没有爸爸",                  # dead or never known? not said
])
def test_propose_nothing_that_is_not_said(text):
    facts = propose_facts(text)
    assert "father" not in facts and "mother" not in facts and "household" not in facts, facts
    assert "age" not in facts.get("child", {}), facts


def test_remaining_term_of_a_sentence_minus_time_served():
    facts = propose_facts("我老公坐牢去了，判了十年，已经关了三年了")
    assert facts["father"] == {"situations": ["incarcerated"], "remaining_months": 84}


def test_unclear_durations_are_left_unknown():
    assert "unreachable_months" not in propose_facts("他妈跟人跑了快两年了")["mother"]
    assert propose_facts("孩子他爹去年被判了三年刑，刚进去")["father"] == {"situations": ["incarcerated"]}


# ----------------------------------------------------------------------------- danger words


@pytest.mark.parametrize("text", [
    "他爸经常打他", "孩子被他后妈打了", "没有被打过", "孩子身上都是伤", "他爸把孩子打了一顿", "孩子被虐待",
    "有人猥亵孩子", "孩子被性侵了", "家里不给饭吃", "把孩子关起来", "孩子一个人在家", "孩子没人管",
    "孩子被拐卖了", "孩子说想死", "孩子想自杀", "孩子离家出走三天了", "孩子被赶出来了", "他后爸家暴",
])
def test_danger_positive(text):
    assert detect_danger(text), text


@pytest.mark.parametrize("text", [
    "孩子他爸出去打工了", "我给他打电话打不通", "孩子要打针", "我打算申请", "家里打扫卫生", "打12345问问",
    "他妈离家出走了", "孩子爸爸去外地打零工", "想打听一下政策", "打印材料要钱吗", "孩子爱打篮球",
    "今天天气怎么样", "打拐解救回来的孩子有什么补助",
])
def test_danger_negative(text):
    assert detect_danger(text) == [], text


def test_danger_returns_the_phrases():
    assert detect_danger("他爸打他，还不给饭吃") == ["打他", "不给饭吃"]


# ----------------------------------------------------------------------------- command line


def _ask(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "freetext.cli", "ask", *args, "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_ask_json_contract():
    out = _ask("孩子爸爸前年去世了，妈妈在监狱还有三年，能领多少钱", "--region", "温岭")
    assert {"answers", "not_sure", "urgent", "facts"} <= set(out)
    assert out["not_sure"] is False and out["urgent"] is False
    assert 1 <= len(out["answers"]) <= 3
    for a in out["answers"]:
        assert {"title", "text", "source"} <= set(a)
    assert out["facts"]["mother"] == {"situations": ["incarcerated"], "remaining_months": 36}


def test_ask_off_topic_and_danger():
    out = _ask("今天天气怎么样")
    assert out["not_sure"] is True and out["answers"] == [] and out["facts"] == {}
    out = _ask("他爸经常打他，孩子一个人在家")
    assert out["urgent"] is True
    assert out["facts"]["safety"] == {"abused": True}


def test_evaluate_prints_the_numbers():
    out = subprocess.run([sys.executable, "-m", "freetext.evaluate"], cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=True)
    numbers = json.loads(out.stdout)
    assert set(numbers) == {"questions", "top1", "top3", "not_sure_correct", "situations",
                            "fact_precision", "fact_recall"}
