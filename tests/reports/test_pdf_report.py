"""The PDF audit report, rendered from a result JSON alone (no model, no data, no GPU).

Results: the real demo result (``data/demo_result.json``, written by ``mia-audit demo
--quick``) and synthetic ones built with ``mia_audit.metrics.evaluate`` (``data/synthetic.py``).
"""

from __future__ import annotations

import copy
import io
import re

import numpy as np
import pytest

from mia_audit.errors import InputError
from mia_audit.reports.method_notes import ATTACK_NOTES, UNLEARNER_NOTES, attack_note, unlearner_note
from mia_audit.run.attack_entries import with_verdict
from mia_audit.verdict import Policy
from mia_audit.reports.pdf_report import render_pdf, sanitize, summarise_config, write_pdf

from .data import synthetic

pypdf = pytest.importorskip("pypdf")

DPI = 40  # figures at low resolution: the tests read text and layout, not pixels
A4 = (595.28, 841.89)
MARGIN_PT = 10 / 25.4 * 72


def pdf_pages(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [p.extract_text() for p in reader.pages]


def flat(text: str) -> str:
    """Whitespace collapsed (line breaks inside wrapped cells become spaces)."""
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


def without_figures(result: dict) -> dict:
    """A copy without ROC and histogram data (renders fast; text tests only)."""
    out = copy.deepcopy(result)
    for e in out["results"]:
        e.pop("roc", None)
        e.pop("histogram", None)
    return out


@pytest.fixture(scope="module")
def demo():
    return synthetic.demo_result()


@pytest.fixture(scope="module")
def demo_pdf(demo):
    return render_pdf(demo, dpi=DPI)


@pytest.fixture(scope="module")
def demo_pages(demo_pdf):
    return pdf_pages(demo_pdf)


@pytest.fixture(scope="module")
def unlearning_pdf():
    result = without_figures(synthetic.unlearning_result())
    return result, render_pdf(result, dpi=DPI)


@pytest.fixture(scope="module")
def mitigation_pdf():
    result = without_figures(synthetic.mitigation_result())
    return result, render_pdf(result, dpi=DPI)


# --- the document ------------------------------------------------------------------------------


def test_demo_pdf_is_a_readable_a4_pdf(demo_pdf):
    assert demo_pdf.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(demo_pdf))
    assert len(reader.pages) >= 4
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4, abs=0.5)


def test_demo_first_page_has_verdict_data_models_and_signature(demo, demo_pages):
    first = flat(demo_pages[0])
    assert "Membership-inference audit report" in first
    assert "INCONCLUSIVE: TPR at FPR 0.1 % cannot be measured with 2,000 non-members (it needs 10,000)" in first
    assert "2026-11-22 12:18 UTC" in first  # from "created"
    assert "n_train 2000, n_test 2000, n_forget 100, n_retain 1900" in first
    assert "adult" in first and "mlp" in first and "0.914" in first and "0.826" in first  # accuracies
    assert "Reviewed by:" in first and "Date:" in first
    # the strongest attack on raw outputs: highest AUC (gap 0.544), highest TPR at 0.1 % (loss-lr, 1.00 %),
    # each with its AUC and TPR at 0.1 % and 1 % and their intervals
    assert "original gap (train) 0.544 [0.534, 0.553] 0.00 % [0.00, 0.00] 0.00 % [0.00, 0.00]" in first
    assert "loss-lr (forget) 0.497 [0.457, 0.547] 1.00 % [0.00, 4.77] 2.00 % [0.00, 5.00]" in first
    # what was audited, grouped; the threat model; the limitations
    assert "original + label-only: outputs unknown; ran gap; could not run confidence, entropy, loss, loss-lr, " \
           "modified-entropy (these outputs are label-only)" in first
    assert "original + temperature(T=fit)" in first
    assert "Threat model" in first and "Knows: nothing beyond the outputs (single-model attacks)" in first
    assert "Limitations" in first
    assert "TPR at FPR 0.1 % needs 10,000 non-members; 2,000 were available (original)." in first
    assert "Next review due:" in first


def test_demo_pdf_names_every_attack_hash_and_page_numbers(demo, demo_pages):
    text = flat(" ".join(demo_pages))
    for attack in {e["attack"] for e in demo["results"]}:
        assert attack in text
    n = len(demo_pages)
    for i, page in enumerate(demo_pages, start=1):
        assert f"page {i} of {n}" in flat(page)
    assert demo["data"]["sha256"] in text
    for m in demo["models"]:
        assert m["sha256"] in text
    assert "3.11.7" in text and "2.13.0+cpu" in text  # versions from "environment"
    assert "seed 0" in text


def test_demo_pdf_has_tables_with_confidence_intervals_and_warnings(demo, demo_pages):
    text = flat(" ".join(demo_pages))
    tables = text[text.index("Attack results (raw outputs)"):text.index("Records at risk and subgroups")]
    for e in demo["results"]:  # every raw-output result, with its intervals; no mitigated one, no n/a row
        if not e["applicable"] or e["mitigation"] != "none":
            continue
        lo, hi = e["auc_ci"]
        t_lo, t_hi = e["tpr_at_fpr_ci"]["0.01"]
        assert f"{e['auc']:.3f} [{lo:.3f}, {hi:.3f}] " in tables
        assert f" {100 * e['tpr_at_fpr']['0.01']:.2f} [{100 * t_lo:.2f}, {100 * t_hi:.2f}] " in tables
    assert "label-only" not in tables and "n/a" not in tables
    for head in ("TPR@0.1 % [CI]", "TPR@1 % [CI]", "TPR@10 % [CI]"):
        assert head in text
    assert "TPR at FPR 0.001 is unreliable" in text and "more like it, with other figures)" in text
    mitigations = text[text.index("Parameters, and what each mitigation made not applicable"):]
    assert "label-only: no parameters. Made not applicable: confidence, entropy, loss, loss-lr, modified-entropy " \
           "(these outputs are label-only)." in mitigations


def test_demo_pdf_has_method_notes_with_references(demo_pages):
    text = flat(" ".join(demo_pages))
    for ref in ("Yeom", "Salem et al.", "ML-Leaks", "Song & Mittal", "NeurIPS 2023", "Salgado Herrera",
                "label-only"):
        assert ref in text


def test_sections_come_in_order(demo_pages):
    text = flat(" ".join(demo_pages))
    order = ["Membership-inference audit report", "Limitations (what", "ROC curves TPR", "Attack results (raw",
             "Records at risk and subgroups The", "Unlearner comparison No", "Mitigations Each", "Method notes Attacks",
             "Audit trail Item"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)


# --- verdict and policy ------------------------------------------------------------------------


def test_violating_result_says_fail_and_names_the_attack(mitigation_pdf):
    result, data = mitigation_pdf
    first = flat(pdf_pages(data)[0])
    assert "FAIL:" in first and "PASS" not in first
    assert "gap on original (train vs test): AUC 0.664 > 0.60" in first  # the worst offender first
    assert "loss on original" in first and "entropy on original" in first


def test_looser_policy_passes_the_same_result():
    result = without_figures(synthetic.mitigation_result())
    policy = Policy(max_auc=0.7, max_tpr_at_fpr={0.1: 0.5})  # 400 non-members measure TPR at FPR 10 %
    first = flat(pdf_pages(render_pdf(with_verdict(result, policy)))[0])
    assert "PASS: no attack exceeded AUC 0.70 or TPR 50.0 % at FPR 10 %" in first


def test_policy_default_and_validation():
    p = Policy()
    assert p.max_auc == 0.6 and dict(p.max_tpr_at_fpr) == {0.001: 0.01} and p.require == ("posterior",)
    assert p.describe() == "AUC <= 0.60 and TPR <= 1.0 % at FPR 0.1 %"
    assert hash(p) == hash(Policy()) and p == Policy()
    with pytest.raises(InputError, match="max_auc"):
        Policy(max_auc=1.5)
    with pytest.raises(InputError, match="max_tpr_at_fpr"):
        Policy(max_tpr_at_fpr={0.0: 0.1})
    with pytest.raises(InputError, match="max_tpr_at_fpr"):
        Policy(max_tpr_at_fpr={0.01: 2})
    with pytest.raises(TypeError):
        p.max_tpr_at_fpr[0.1] = 0.2  # read-only


def test_policy_limits_are_inclusive_and_rows_name_violations():
    entry = synthetic.entry("original", "loss", "train", 0.0, seed=3)
    entry.update(auc=0.6, tpr_at_fpr={"0.001": 0.01, "0.01": 0.02, "0.1": 0.1}, n_nonmembers=10_000)
    result = synthetic.base_result([synthetic.model("original", "original")], [entry])
    assert result["verdict"]["status"] == "pass" and result["verdict"]["violations"] == []
    entry.update(auc=0.61, tpr_at_fpr={"0.001": 0.02})
    verdict = with_verdict(result)["verdict"]
    assert verdict["status"] == "fail"
    assert {v["figure"] for v in verdict["violations"]} == {"AUC", "TPR@0.001"}
    assert {(v["model"], v["mitigation"], v["attack"], v["members"]) for v in verdict["violations"]} == \
        {("original", "none", "loss", "train")}


def test_missing_metric_or_no_applicable_result_is_inconclusive():
    entry = synthetic.entry("original", "loss", "train", 0.0, seed=3)
    entry["tpr_at_fpr"] = {"0.01": 0.0}
    result = synthetic.base_result([synthetic.model("original", "original")], [entry])
    assert result["verdict"]["status"] == "inconclusive"
    assert "1 attack result lack TPR@0.001" in result["verdict"]["headline"]
    na = synthetic.not_applicable("original", "loss", "train", mitigation="label-only")
    result = synthetic.base_result([synthetic.model("original", "original")], [na])
    assert result["verdict"]["status"] == "inconclusive"
    assert result["verdict"]["headline"].startswith("INCONCLUSIVE: the result holds no applicable attack result")
    first = flat(pdf_pages(render_pdf(result, dpi=DPI))[0])
    assert "INCONCLUSIVE: the result holds no applicable attack result" in first and "PASS:" not in first


def test_a_tpr_the_nonmembers_cannot_measure_is_inconclusive_unless_its_ci_clears_the_limit():
    """With 400 non-members, TPR at FPR 0.1 % is the TPR above every non-member: one record there
    reads "0.5 %", noise. It neither passes nor fails the limit unless its interval's low end does."""
    entry = synthetic.entry("original", "loss", "train", 0.0, seed=3)
    entry.update(auc=0.55, tpr_at_fpr={"0.001": 0.005, "0.01": 0.02, "0.1": 0.1},
                 tpr_at_fpr_ci={"0.001": [0.0, 0.02], "0.01": [0.0, 0.05], "0.1": [0.05, 0.15]})
    result = synthetic.base_result([synthetic.model("original", "original")], [entry])
    verdict = result["verdict"]
    assert verdict["status"] == "inconclusive" and verdict["violations"] == []
    assert verdict["unreliable"] == [{"model": "original", "mitigation": "none", "attack": "loss", "members": "train",
                                      "figure": "TPR@0.001", "n_nonmembers": 400, "needed": 10_000}]
    assert "TPR at FPR 0.1 % cannot be measured with 400 non-members (it needs 10,000)" in verdict["headline"]
    entry.update(tpr_at_fpr={**entry["tpr_at_fpr"], "0.001": 0.3}, tpr_at_fpr_ci={**entry["tpr_at_fpr_ci"],
                                                                                     "0.001": [0.2, 0.4]})
    assert with_verdict(result)["verdict"]["status"] == "fail"  # 20 % even at the interval's low end: a leak
    entry.update(tpr_at_fpr_ci={**entry["tpr_at_fpr_ci"], "0.001": [0.005, 0.4]})
    assert with_verdict(result)["verdict"]["status"] == "inconclusive"  # above the limit, but not surely


def test_label_only_model_is_inconclusive_and_page_one_says_so():
    """Issue 9 §1: a model whose outputs are labels only passed with a green box."""
    m = {**synthetic.model("deployed", "original"), "outputs": "labels"}
    results = [synthetic.entry("deployed", "gap", "train", 0.05, seed=4)] + \
        [synthetic.not_applicable("deployed", a, "train", mitigation="none") for a in ("loss", "entropy")]
    result = synthetic.base_result([m], results)
    assert result["verdict"]["status"] == "inconclusive"
    first = flat(pdf_pages(render_pdf(without_figures(result), dpi=DPI))[0])
    assert "INCONCLUSIVE: model deployed gave labels only: only gap ran" in first
    assert "deployed: outputs labels only; ran gap; could not run loss, entropy" in first
    assert "PASS:" not in first


# --- optional sections ------------------------------------------------------------------------------


def test_without_unlearners_says_so_in_one_line(demo_pages):
    text = flat(" ".join(demo_pages))
    assert "No unlearner was run: the result has no unlearned or retrained model." in text
    assert "Time share of retraining" not in text


def test_unlearner_section_compares_with_retraining(unlearning_pdf):
    result, data = unlearning_pdf
    text = flat(" ".join(pdf_pages(data)))
    assert "No unlearner was run" not in text and "No mitigation was evaluated" in text
    assert "Unlearner comparison" in text and "Time share of retraining" in text
    assert "16.7 %" in text and "27.8 %" in text and "100.0 %" in text  # 3 s, 5 s, 18 s of 18 s
    assert "1.048" in text  # finetune forget/test accuracy 0.88 / 0.84
    assert "AUC gap to the retrained model" in text
    by = {(e["model"], e["attack"]): e["auc"] for e in result["results"] if e["members"] == "forget"}
    gap = by[("scrub", "entropy")] - by[("retrained", "entropy")]
    assert f"{by[('scrub', 'entropy')]:.3f} ({gap:+.3f})" in text
    for note in ("Kurmanji", "finetune", "retrain"):  # method notes of the unlearners
        assert note in text


def test_mitigation_section_with_and_without_utility(mitigation_pdf):
    result, data = mitigation_pdf
    text = flat(" ".join(pdf_pages(data)))
    assert "No mitigation was evaluated" not in text
    assert "Highest AUC without -> with" in text
    base = max((e for e in result["results"] if e["mitigation"] == "none" and e["members"] == "train"),
               key=lambda e: e["auc"])
    mit = max((e for e in result["results"] if e["mitigation"] == "label-only" and e["applicable"]
               and e["members"] == "train"), key=lambda e: e["auc"])
    assert f"label-only original train {base['auc']:.3f} ({base['attack']}) -> {mit['auc']:.3f} ({mit['attack']})" \
        in text
    assert "temperature(T=2.5) original train 0.664 (gap) -> n/a" in text  # utility measured, no attack run and "0.052 -> 0.031" in text
    assert "temperature(T=2.5): T = 2.5." in text
    assert '{"T"' not in text  # options in words, never as JSON
    bare = without_figures(synthetic.mitigation_result(with_utility=False))
    text = flat(" ".join(pdf_pages(render_pdf(bare))))
    assert "No utility cost was evaluated" in text


def test_demo_mitigations_show_gain_and_utility(demo, demo_pages):
    text = flat(" ".join(demo_pages))
    assert "No mitigation was evaluated" not in text
    # the highest AUC on the training set stays gap's 0.544 under both; temperature scaling halves the ECE
    assert "label-only original train 0.544 (gap) -> 0.544 (gap)" in text
    assert "temperature(T=fit) original train 0.544 (gap) -> 0.544 (gap)" in text
    assert "0.826 -> 0.826 0.066 -> 0.026" in text
    assert "temperature(T=fit): T = 1.63, fitted on 1,000 held-out records." in text
    assert "fitted_T" not in text


def test_not_applicable_rows_show_na_never_half(mitigation_pdf):
    result, data = mitigation_pdf
    pages = pdf_pages(data)
    text = flat(" ".join(pages))
    assert "Made not applicable: entropy, loss" in text
    assert "0.500" not in text and "0.10 %" not in text  # an n/a entry's stray figures are never printed
    assert not any(e["auc"] == 0.5 for e in result["results"] if e["applicable"])
    looser = with_verdict(copy.deepcopy(result), Policy(max_auc=0.7, max_tpr_at_fpr={0.1: 0.5}))["verdict"]
    assert looser["status"] == "pass" and looser["n_checked"] == len(result["results"]) - 2


def test_histograms_appear_only_with_data(demo, demo_pdf):
    """The score distribution of each model's strongest per-record attack (the records section)."""
    with_records = copy.deepcopy(demo)
    gap = next(e for e in demo["results"] if e["attack"] == "gap" and e["members"] == "train"
               and e["mitigation"] == "none")
    with_records["records"] = [{"model": "original", "mitigation": "none", "attack": "gap", "members": "train",
                                "n_members": gap["n_members"], "n_nonmembers": gap["n_nonmembers"],
                                "at_risk": {"0.001": 3, "0.01": 12}, "top": [{"id": 17, "score": 1.0, "rank": 1,
                                                                              "fpr": 0.0}]}]
    data = render_pdf(with_records, dpi=DPI)
    text = flat(" ".join(pdf_pages(data)))
    assert "Score distributions" in text and "original: gap (AUC 0.544)" not in text  # the caption is a picture
    assert "3 (0.1 %)" in text and "12 (0.6 %)" in text and "17 (0.00 %)" in text
    assert _count_images(data) == _count_images(demo_pdf) + 1  # one histogram row more
    for e in with_records["results"]:
        e.pop("histogram", None)
    assert _count_images(render_pdf(with_records, dpi=DPI)) == _count_images(demo_pdf)


def _count_images(data: bytes) -> int:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return sum(len(page.images) for page in reader.pages)


# --- robustness and layout --------------------------------------------------------------------------


def test_long_names_and_twelve_attacks_stay_inside_the_page():
    result = synthetic.many_attacks_result(12)
    data = render_pdf(result, dpi=DPI)
    pages = pdf_pages(data)
    squashed = re.sub(r"\s+", "", " ".join(pages))
    for attack in {e["attack"] for e in result["results"]}:
        assert attack in squashed
    assert f"page 1 of {len(pages)}" in flat(pages[0])
    _assert_inside_margins(data)


def test_demo_layout_stays_inside_the_page(demo_pdf):
    _assert_inside_margins(demo_pdf)


def _assert_inside_margins(data: bytes) -> None:
    """Every rectangle, image and text run ends left of the right margin (10 mm)."""
    from fpdf import FPDF

    right = A4[0] - MARGIN_PT + 0.5
    meter = FPDF(unit="pt")
    meter.add_page()
    reader = pypdf.PdfReader(io.BytesIO(data))
    token = re.compile(rb"/(F\d+) ([\d.]+) Tf"  # font and size
                       rb"|([\d.-]+) ([\d.-]+) ([\d.-]+) ([\d.-]+) re"  # rectangle x y w h
                       rb"|([\d.-]+) 0 0 ([\d.-]+) ([\d.-]+) ([\d.-]+) cm"  # image w h x y
                       rb"|([\d.-]+) ([\d.-]+) Td [^(]*\((.*?)(?<!\\)\) Tj")  # text at x y
    for number, page in enumerate(reader.pages, start=1):
        fonts = {name.lstrip("/"): str(f.get_object()["/BaseFont"]).lstrip("/")
                 for name, f in page["/Resources"].get("/Font", {}).items()}
        content = page.get_contents().get_data()
        size = 10.0
        for m in token.finditer(content):
            if m.group(1):
                base = fonts[m.group(1).decode()]
                family = "Courier" if base.startswith("Courier") else "Helvetica"
                style = "B" if "Bold" in base else ""
                size = float(m.group(2))
                meter.set_font(family, style, size)
            elif m.group(3):
                x, w = float(m.group(3)), float(m.group(5))
                assert x + w <= right, f"page {number}: a rectangle ends at {x + w:.1f} pt"
            elif m.group(7):
                w, x = float(m.group(7)), float(m.group(9))
                assert x + w <= right, f"page {number}: an image ends at {x + w:.1f} pt"
            elif m.group(11):
                x = float(m.group(11))
                text = re.sub(rb"\\([()\\])", rb"\1", m.group(13)).decode("latin-1")
                end = x + meter.get_string_width(text)
                assert end <= right, f"page {number}: text {text[:40]!r} ends at {end:.1f} pt"


def test_rendering_does_not_mutate_the_result(demo, demo_pdf, mitigation_pdf):
    assert demo == synthetic.demo_result()  # demo_pdf rendered it
    result, _ = mitigation_pdf
    assert result == without_figures(synthetic.mitigation_result())


def test_unicode_in_names_is_sanitised():
    result = without_figures(synthetic.mitigation_result())
    for e in result["results"]:
        e["model"] = "modèle-ε≤1—ß"
    result["models"][0]["name"] = "modèle-ε≤1—ß"
    text = flat(" ".join(pdf_pages(render_pdf(result))))
    assert "modèle-eps<=1-ß" in text
    assert sanitize("ε ≤ 0.5 — “ok” … √n ≥ 2 → 中") == 'eps <= 0.5 - "ok" ... sqrtn >= 2 -> ?'


def test_unknown_names_get_a_generic_method_note():
    result = without_figures(synthetic.demo_result())
    result["results"][0]["attack"] = "brand-new-attack"
    result["models"].append({**result["models"][0], "name": "u", "role": "unlearned", "unlearner": "mystery"})
    text = flat(" ".join(pdf_pages(render_pdf(result))))
    assert "Attack 'brand-new-attack': no method note is available" in text
    assert "Unlearning method 'mystery': no method note is available" in text


def test_method_notes_cover_the_listed_methods():
    for name in ("loss", "confidence", "entropy", "modified-entropy", "loss-lr", "gap", "lira-online",
                 "lira-offline", "rmia", "two-model", "u-lira"):
        assert name in ATTACK_NOTES and "Reference" in attack_note(name)
    for name in ("retrain", "sisa", "finetune", "neggrad", "neggrad+", "random-label", "scrub", "salun", "eupg"):
        assert name in UNLEARNER_NOTES
    assert "Carlini" in attack_note("lira-online") and "Zarifzadeh" in attack_note("rmia")
    assert "Chen" in attack_note("two-model") and "Hayes" in attack_note("u-lira")
    assert "Bourtoule" in unlearner_note("sisa") and "Fan et al." in unlearner_note("salun")
    assert "seed paper 004" in unlearner_note("eupg")


# --- no training record in the report ----------------------------------------------------------------


def test_config_lists_are_summarised():
    config = {"forget": {"indices": list(range(500)), "kind": "indices"},
              "model": {"params": {"hidden": [128, 128]}},
              "probe": [[0.1] * 10] * 3, "names": [f"n{i}" for i in range(30)], "text": "x" * 1000}
    out = summarise_config(config)
    assert out["forget"]["indices"] == "<500 indices>"
    assert out["model"]["params"]["hidden"] == [128, 128]
    assert out["probe"] == "<list of 30 numbers>"
    assert out["names"][:5] == ["n0", "n1", "n2", "n3", "n4"] and "25 more" in out["names"][-1]
    assert out["text"].endswith("<1000 characters>") and len(out["text"]) < 400
    assert config["forget"]["indices"] == list(range(500))  # the input is untouched


def test_pdf_holds_no_feature_values_or_record_indices():
    from mia_audit.data import load_dataset

    X = np.asarray(load_dataset("adult").X, dtype=np.float64)
    gen = np.random.default_rng(0)
    rows = X[gen.choice(len(X), 40, replace=False)]
    result = without_figures(synthetic.demo_result())
    indices = sorted(int(i) for i in gen.choice(np.arange(30_000, 45_000), 100, replace=False))
    result["config"]["forget"]["indices"] = indices
    result["config"]["data"]["options"]["probe_rows"] = rows[:3].tolist()  # a careless config
    text = flat(" ".join(pdf_pages(render_pdf(result))))
    assert "<100 indices>" in text and "<list of 264 numbers>" in text
    assert not any(str(i) in text for i in indices)
    values = {v for v in rows.ravel() if v not in (0.0, 1.0)}
    assert values
    for v in values:
        for form in (repr(float(v)), f"{v:.6f}", f"{v:.5f}"):
            assert form not in text, f"feature value {form} appears in the report"


# --- files --------------------------------------------------------------------------------------------


def test_write_pdf_writes_atomically(tmp_path):
    result = without_figures(synthetic.demo_result())
    path = write_pdf(result, tmp_path / "out" / "report.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    assert [p.name for p in path.parent.iterdir()] == ["report.pdf"]


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="result"):
        render_pdf({"no": "results"})
    bare = synthetic.demo_result()
    del bare["verdict"]
    with pytest.raises(InputError, match="no verdict section"):
        render_pdf(bare)


def test_an_auc_on_too_few_records_is_inconclusive_never_pass():
    """5 forget records against 400 non-members: 2 SE of the AUC is about 0.26, so an AUC of 0.55
    cannot be told from chance or from the 0.6 limit. The verdict must not say PASS."""
    few = synthetic.entry("original", "loss", "forget", 0.0, n1=5, seed=3)
    few.update(auc=0.55, tpr_at_fpr={"0.1": 0.0}, auc_ci=[0.3, 0.8])
    many = synthetic.entry("original", "loss", "train", 0.0, seed=3)
    many.update(auc=0.55, tpr_at_fpr={"0.1": 0.1})
    policy = Policy(max_auc=0.6, max_tpr_at_fpr={0.1: 0.5})
    result = synthetic.base_result([synthetic.model("original", "original")], [many, few], policy=policy)
    verdict = result["verdict"]
    assert verdict["status"] == "inconclusive" and verdict["violations"] == []
    assert verdict["too_few_records"] == [{"model": "original", "mitigation": "none", "attack": "loss",
                                           "members": "forget", "n_smaller_set": 5}]
    assert "1 attack result rest on too few records to tell a chance AUC from the limit" in verdict["headline"]
    alone = synthetic.base_result([synthetic.model("original", "original")], [many], policy=policy)
    assert alone["verdict"]["status"] == "pass"  # 200 + 400 records resolve it: 2 SE = 0.05
    few.update(auc=0.95, auc_ci=[0.7, 1.0])  # far above even at the interval's low end: a leak
    assert with_verdict(result, policy)["verdict"]["status"] == "fail"


def test_a_training_time_mitigation_is_a_mitigation_row_not_no_mitigation():
    """dp-sgd trains a model of its own: the Mitigations section compares it with the original model,
    and lists its privacy settings in words."""
    dp = {**synthetic.model("dp-sgd", "original"), "mitigation": "dp-sgd(target_epsilon=1)", "epsilon": 0.994,
          "delta": 2.5e-5, "noise_multiplier": 1.1}
    dp["accuracy"] = {**dp["accuracy"], "test": 0.79}
    results = [synthetic.entry("original", "loss", "train", 0.4, seed=1, histogram=False),
               synthetic.entry("dp-sgd", "loss", "train", 0.05, seed=2, histogram=False)]
    result = synthetic.base_result([synthetic.model("original", "original"), dp], without_figures(
        {"results": results})["results"])
    text = flat(" ".join(pdf_pages(render_pdf(result, dpi=DPI))))
    mitigations = text[text.index("Mitigations Each"):]
    assert "No mitigation was evaluated" not in text
    a, b = results[0]["auc"], results[1]["auc"]
    assert f"dp-sgd(target_epsilon=1) dp-sgd (vs original) train {a:.3f} (loss) -> {b:.3f} (loss)" in mitigations
    assert "0.850 -> 0.790" in mitigations
    assert "dp-sgd(target_epsilon=1) (model dp-sgd): epsilon = 0.994, delta = 2.5e-05, noise multiplier = 1.1." \
        in mitigations


def test_one_roc_figure_per_model():
    """Issue 13: one ROC figure per model (its mitigations as panels), never one panel per
    (model, mitigation, member set) strip."""
    from mia_audit.reports.curves import figure_models

    result = synthetic.unlearning_result(histograms=False)
    models = figure_models(result)
    assert len(models) >= 3
    assert _count_images(render_pdf(result, dpi=DPI)) == len(models)


def test_every_registered_attack_has_a_method_note():
    """A user's audit can run any registered attack; the PDF must explain each (no generic line)."""
    from mia_audit.attacks import ATTACKS

    missing = [n for n in ATTACKS.names() if n not in ATTACK_NOTES]
    assert missing == []
    assert "Zarifzadeh" in attack_note("rmia-offline") and "Bertran" in attack_note("qmia")
    assert "Choquette-Choo" in attack_note("boundary")
