"""Options in words (mia_audit.reports.wording): golden cases."""

from mia_audit.reports.pdf.trail import config_rows
from mia_audit.reports.wording import params_words, validation_records, value_words


def test_a_fitted_parameter_reads_as_a_sentence():
    assert params_words({"T": "fit", "fitted_T": 2.9672206}, fitted_on=1000) == \
        "T = 2.97, fitted on 1,000 held-out records"
    assert params_words({"T": "fit", "fitted_T": 2.9672206}) == "T = 2.97, fitted on held-out records"
    assert params_words({"T": 2.5}) == "T = 2.5"
    assert params_words({"epochs": 2, "lr": None, "alpha": 0.99}) == "epochs = 2, alpha = 0.99"  # unset: left out
    assert params_words({}) == ""


def test_values_read_as_written():
    assert value_words(True) == "yes" and value_words(10000) == "10,000" and value_words(0.001) == "0.001"
    assert value_words(1e-6) == "1e-06" and value_words(12345.6) == "12,346"
    assert value_words([256, 256]) == "256, 256" and value_words(list(range(50))) == "50 numbers"
    assert value_words(["sex", "race"]) == "sex, race"
    assert value_words([f"attack{i}" for i in range(12)]).count(",") == 11  # names are never a count


def test_validation_records_from_data_or_config():
    assert validation_records({"data": {"n_validation": 300}}) == 300
    assert validation_records({"config": {"data": {"validation_size": 1000}}}) == 1000
    assert validation_records({"config": {"data": {"validation_size": 0.1}}}) is None  # a fraction: unknown count


def test_configuration_rows_are_settings_not_json():
    rows = config_rows({"data": {"name": "adult", "train_size": 10000, "path": None},
                        "mitigations": [{"name": "temperature", "T": "fit"}], "seed": 0, "options": {}})
    assert rows == [["data.name", "adult"], ["data.train_size", "10,000"],
                    ["mitigations 1", "name = temperature, T = fit"], ["seed", "0"]]
