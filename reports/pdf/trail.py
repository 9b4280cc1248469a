"""Method notes and the audit trail (configuration, seeds, versions, hashes)."""

from __future__ import annotations

from typing import Any, Mapping

from ..method_notes import attack_note, unlearner_note
from ..readers import attack_names, format_created, pretty_json, summarise_config
from .layout import GREY, Doc

def section_method_notes(doc: Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Method notes")
    attacks = attack_names(result)
    unlearners: dict[str, Any] = {}
    for m in result.get("models", []):
        name = m.get("unlearner") or ("retrain" if m.get("role") == "retrained" else None)
        if name and (name not in unlearners or not unlearners[name]):
            unlearners[str(name)] = m.get("reference")
    if attacks:
        doc.subheading("Attacks")
        for a in attacks:
            _note(doc, a, attack_note(a))
    if unlearners:
        doc.subheading("Unlearning methods")
        for u, reference in unlearners.items():
            _note(doc, u, unlearner_note(u, reference))
    doc.para("Scores: for every attack a higher score means 'more likely a member'. Thresholds of threshold "
             "attacks are chosen on the evaluation data (attacker-optimistic). TPR at FPR is the exact empirical "
             "value, never interpolated.", size=8.5, color=GREY)


def _note(doc: Doc, name: str, text: str) -> None:
    pdf = doc.pdf
    doc.need(14)
    pdf.set_font("Helvetica", "B", 9)
    pdf.multi_cell(0, 4.4, name, new_x="LMARGIN", new_y="NEXT")
    doc.para(text, size=8.5)


def section_trail(doc: Doc, result: Mapping[str, Any]) -> None:
    doc.pdf.add_page()
    doc.heading("Audit trail")
    tool = result.get("tool") or {}
    env = result.get("environment") or {}
    data = result.get("data") or {}
    config = result.get("config") or {}
    pairs = [("Created", format_created(result.get("created"))),
             ("Tool", f"{tool.get('name', '?')} {tool.get('version', '?')} (result schema "
                      f"v{result.get('schema_version', '?')})")]
    seeds = []
    if isinstance(config, Mapping) and "seed" in config:
        seeds.append(f"seed {config['seed']}")
    if isinstance(result.get("seeds"), Mapping):
        seeds += [f"{k} {v}" for k, v in result["seeds"].items()]
    pairs.append(("Seeds", ", ".join(seeds) or "not recorded"))
    device = env.get("device", "?")
    if isinstance(config, Mapping) and config.get("device") not in (None, device):
        device = f"{device} (requested: {config['device']})"
    pairs.append(("Device", str(device)))
    versions = ", ".join(f"{k} {v if v is not None else '-'}" for k, v in env.items() if k not in ("device",))
    pairs.append(("Versions", versions or "not recorded"))
    pairs.append(("Data", f"{data.get('name', '?')}: n_train {data.get('n_train', '?')}, n_test "
                          f"{data.get('n_test', '?')}, n_forget {data.get('n_forget', '?')}, n_retain "
                          f"{data.get('n_retain', '?')}"))
    pairs.append(("Data sha256", str(data.get("sha256", "not recorded"))))
    if data.get("preprocessing"):
        text = str(data["preprocessing"])
        pairs.append(("Preprocessing", text if len(text) <= 1500 else text[:1500] + " ..."))
    doc.key_values(pairs, size=8.5, mono_keys=("Data sha256",))

    models = result.get("models", [])
    if models:
        doc.subheading("Model hashes (sha256)")
        doc.table(["Model", "Role", "sha256"],
                  [[str(m.get("name")), str(m.get("role", "-")), str(m.get("sha256") or "not recorded")]
                   for m in models], max_font=8)

    text = pretty_json(summarise_config(config))
    pdf = doc.pdf
    pdf.set_font("Courier", "", 7.5)
    height = pdf.multi_cell(0, 3.3, text, wrapmode="CHAR", dry_run=True, output="HEIGHT")
    page_room = pdf.page_break_trigger - pdf.t_margin - 30
    doc.subheading("Configuration", keep=height + 12 if height + 12 <= page_room else 25)
    doc.para("As given to the runner; lists of more than 20 numbers (such as forget-set indices) are "
             "summarised as a count, long texts are shortened.", size=8, color=GREY)
    pdf.set_font("Courier", "", 7.5)
    pdf.set_fill_color(246, 246, 246)
    pdf.multi_cell(0, 3.3, text, fill=True, wrapmode="CHAR", new_x="LMARGIN", new_y="NEXT")


