"""Method notes and the audit trail (configuration, seeds, versions, hashes)."""

from __future__ import annotations

from typing import Any, Mapping

from ..method_notes import attack_note, unlearner_note
from ..readers import attack_names, format_created, summarise_config
from ..wording import params_words, value_words
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
    doc.need(12)
    pdf.set_font("Helvetica", "B", 8.5)
    pdf.multi_cell(0, 4.0, name, new_x="LMARGIN", new_y="NEXT")
    doc.para(text, size=8)


def section_trail(doc: Doc, result: Mapping[str, Any]) -> None:
    doc.heading("Audit trail", keep=60)
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
    versions = [(f"Version: {k}", str(v) if v is not None else "not installed") for k, v in env.items()
                if k not in ("device", "platform")]
    pairs += versions or [("Versions", "not recorded")]
    if env.get("platform"):
        pairs.append(("Platform", str(env["platform"])))
    pairs.append(("Data", f"{data.get('name', '?')}: n_train {data.get('n_train', '?')}, n_test "
                          f"{data.get('n_test', '?')}, n_forget {data.get('n_forget', '?')}, n_retain "
                          f"{data.get('n_retain', '?')}"))
    pairs.append(("Data sha256", str(data.get("sha256", "not recorded"))))
    if data.get("preprocessing"):
        text = str(data["preprocessing"])
        pairs.append(("Preprocessing", text if len(text) <= 1500 else text[:1500] + " ..."))
    doc.table(["Item", "Value"], [[k, v] for k, v in pairs], max_font=8, full_width=True)

    models = result.get("models", [])
    if models:
        doc.subheading("Model hashes (sha256)")
        doc.table(["Model", "Role", "sha256"],
                  [[str(m.get("name")), str(m.get("role", "-")), str(m.get("sha256") or "not recorded")]
                   for m in models], max_font=8)

    rows = config_rows(summarise_config(config))
    doc.subheading("Configuration", keep=30)
    doc.para("As given to the runner, one setting a row (unset settings left out); lists of more than 20 numbers "
             "(such as forget-set indices) are summarised as a count, long texts are shortened.", size=8, color=GREY)
    if rows:
        half = (len(rows) + 1) // 2  # two settings a row: half the length
        paired = [rows[i] + (rows[i + half] if i + half < len(rows) else ["", ""]) for i in range(half)]
        doc.table(["Setting", "Value", "Setting", "Value"], paired, max_font=7.5, full_width=True)
    else:
        doc.para("The result records no configuration.", size=8.5)


def config_rows(config: Any, prefix: str = "") -> list[list[str]]:
    """A nested configuration as ``[setting, value]`` rows: ``data.train_size | 10,000``; a list of
    tables is one row per table (``mitigations 2 | name = temperature, T = fit``); unset (None)
    and empty settings are left out."""
    if isinstance(config, Mapping):
        rows = []
        for key, value in config.items():
            rows += config_rows(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if config is None or config == {} or config == []:
        return []
    if isinstance(config, list) and config and all(isinstance(v, Mapping) for v in config):
        return [[f"{prefix} {i + 1}", params_words(v) or "defaults"] for i, v in enumerate(config)]
    return [[prefix, value_words(config)]]
