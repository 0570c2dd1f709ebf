"""Help texts: the commands, the config groups read from the packaged configs, the options."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from segue.cli.main import build_parser
from tests.scripts.conftest import CONFIGS


def printed_help(capsys, *argv: str) -> str:
    """What ``segue <argv> --help`` prints (argparse exits 0 after printing)."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def options_line(text: str, group: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(group + " "))
    return [o.strip().rstrip("*") for o in line.split(None, 1)[1].split("(")[0].split(",")]


def test_top_level_help_lists_every_command_and_the_config_groups(capsys):
    text = printed_help(capsys)
    for command in ("train", "evaluate", "export", "serve", "recommend", "info"):
        assert f"    {command} " in text
    # The groups and options come from the config package, not from a list in the code.
    for group in ("data", "model", "loss", "experiment"):
        files = sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))
        assert options_line(text, group) == files


def test_train_help_lists_groups_defaults_and_options_with_their_config_values(capsys):
    text = printed_help(capsys, "train")
    assert "synthetic*" in text and "softmax*" in text  # the defaults list's choices
    trainer = OmegaConf.load(CONFIGS / "trainer" / "default.yaml")
    assert f"trainer.epochs={trainer.epochs} " in text
    assert f"trainer.batch_size={trainer.batch_size} " in text
    assert "optim.lr=" in text and "paths.output_dir=" in text
    assert "segue train data=movielens_100k" in text


def test_evaluate_help_lists_the_baselines_group_and_protocol_options(capsys):
    text = printed_help(capsys, "evaluate")
    files = sorted(p.stem for p in (CONFIGS / "baselines").glob("*.yaml"))
    assert options_line(text, "baselines") == files
    for key in ("fold=test", "compare_to=", "ks=[10,20,50]"):
        assert key in text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("export", ["--format {int8,onnx}", "--int8-embeddings", "segue[onnx]"]),
        ("recommend", ["--k K", "--max-per-artist", "--json"]),
        ("info", ["--json", "read as data"]),
    ],
)
def test_command_help_names_its_options(capsys, command, expected):
    text = printed_help(capsys, command)
    for word in expected:
        assert word in text, word


def test_an_argument_that_is_not_an_override_is_refused_before_any_work(segue):
    result = segue("train", "epochs")
    assert result.code == 1
    assert "'epochs' is not a config override" in result.err


def test_an_unknown_group_option_names_the_available_ones(segue):
    result = segue("train", "data=nope")
    assert result.code == 1
    assert "Could not find 'data/nope'" in result.err and "movielens_100k" in result.err


def test_show_config_prints_the_composed_config_with_overrides(segue):
    result = segue("train", "debug=default", "trainer.epochs=3", "--show-config")
    assert result.code == 0
    assert "epochs: 3" in result.out and "d_model: 16" in result.out


def test_version_is_the_package_version(capsys):
    import segue

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"segue {segue.__version__}"
