"""``rlcore.plot``: finding result files, reading curves, drawing them into a PNG."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.errors import ConfigError, PluginUnavailableError
from rlcore.plot import find_result_files, load_curve, plot_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result_line(i: int, reward: float | None, **extra: Any) -> str:
    """One line as ``rlcore train`` (or Ray Tune, with ``extra``) writes it."""
    record = {
        "training_iteration": i,
        "timesteps_total": 1000 * i,
        "episode_reward_mean": reward,
        "time_total_s": 1.5 * i,
        "info": {"num_steps_trained": 1000 * i, "learner": {"default_policy": {"policy_loss": 0.1 / i}}},
        **extra,
    }
    return json.dumps(record)


def write_trial(folder: Path, rewards: list[float | None], tail: str = "") -> Path:
    """A trial folder with a ``result.json`` of one line per reward (iterations 1, 2, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "result.json"
    path.write_text("".join(result_line(i, r) + "\n" for i, r in enumerate(rewards, start=1)) + tail)
    return path


@pytest.fixture
def two_trials(tmp_path: Path) -> Path:
    """``tmp_path/results/PPO_cartpole/{trial_a,trial_b}``: a rising curve and a flatter one."""
    root = tmp_path / "results"
    write_trial(root / "PPO_cartpole" / "trial_a", [None, 10.0, 25.0, 60.0, 120.0, 200.0])
    write_trial(root / "PPO_cartpole" / "trial_b", [5.0, 8.0, float("nan"), 20.0, 30.0, 45.0])
    return root


# ---------------------------------------------------------------------------- find_result_files


def test_find_result_files_at_every_level(two_trials: Path) -> None:
    expected = [two_trials / "PPO_cartpole" / t / "result.json" for t in ("trial_a", "trial_b")]
    assert find_result_files(two_trials) == expected
    assert find_result_files(str(two_trials / "PPO_cartpole")) == expected
    assert find_result_files(two_trials / "PPO_cartpole" / "trial_b") == expected[1:]
    assert find_result_files(expected[0]) == expected[:1]


def test_find_result_files_skips_hidden_folders(two_trials: Path) -> None:
    write_trial(two_trials / ".trash" / "old_trial", [1.0])
    write_trial(two_trials / "PPO_cartpole" / ".ipynb_checkpoints", [1.0])
    assert [p.parent.name for p in find_result_files(two_trials)] == ["trial_a", "trial_b"]


def test_find_result_files_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*rlcore train .*--local-dir"):
        find_result_files(tmp_path / "nope")


def test_find_result_files_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "exp" / "trial").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no result\.json found under .*sub-folders.*--local-dir"):
        find_result_files(tmp_path)


# ---------------------------------------------------------------------------- load_curve


def test_load_curve_skips_null_and_nan(two_trials: Path) -> None:
    xs, ys = load_curve(two_trials / "PPO_cartpole" / "trial_a" / "result.json")
    np.testing.assert_array_equal(xs, [2000, 3000, 4000, 5000, 6000])
    np.testing.assert_array_equal(ys, [10, 25, 60, 120, 200])
    assert xs.dtype == ys.dtype == np.float64

    # Ray Tune writes NaN as a bare ``NaN`` token, which json accepts
    xs, ys = load_curve(two_trials / "PPO_cartpole" / "trial_b" / "result.json", x="training_iteration")
    np.testing.assert_array_equal(xs, [1, 2, 4, 5, 6])
    assert not any(math.isnan(v) for v in ys)


def test_load_curve_other_and_nested_keys(tmp_path: Path) -> None:
    path = write_trial(tmp_path / "t", [1.0, 2.0])
    xs, ys = load_curve(path, x="time_total_s", y="info/learner/default_policy/policy_loss")
    np.testing.assert_array_equal(xs, [1.5, 3.0])
    np.testing.assert_allclose(ys, [0.1, 0.05])


def test_load_curve_tolerates_extra_keys_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tune_trial" / "result.json"
    path.parent.mkdir()
    lines = [result_line(i, 1.0 * i, trial_id="abc", config={"lr": 1e-3}, date="2024-01-01") for i in (1, 2, 3)]
    path.write_text("\n" + lines[0] + "\n\n" + lines[1] + "\r\n   \n" + lines[2] + "\n\n")
    np.testing.assert_array_equal(load_curve(path)[1], [1, 2, 3])


def test_load_curve_skips_half_written_last_line(tmp_path: Path) -> None:
    full = result_line(4, 40.0)
    path = write_trial(tmp_path / "t", [10.0, 20.0, 30.0], tail=full[: len(full) // 2])
    np.testing.assert_array_equal(load_curve(path)[1], [10, 20, 30])
    # ... also when a newline (or blank lines) made it to disk after the torn line
    path.write_text(path.read_text() + "\n\n")
    np.testing.assert_array_equal(load_curve(path)[1], [10, 20, 30])


def test_load_curve_malformed_middle_line(tmp_path: Path) -> None:
    path = write_trial(tmp_path / "t", [10.0])
    path.write_text(path.read_text() + '{"timesteps_total": 2000, "episode_reward_mean": \n' + result_line(3, 30.0))
    with pytest.raises(ConfigError, match=r"result\.json:2: not valid JSON") as info:
        load_curve(path)
    assert str(path) in str(info.value)


def test_load_curve_non_object_line(tmp_path: Path) -> None:
    path = write_trial(tmp_path / "t", [10.0])
    path.write_text("[1, 2]\n" + path.read_text())
    with pytest.raises(ConfigError, match=r"result\.json:1: expected a JSON object, got list"):
        load_curve(path)


def test_load_curve_unknown_key_suggests(tmp_path: Path) -> None:
    path = write_trial(tmp_path / "t", [10.0, 20.0])
    with pytest.raises(ConfigError, match=r"y key 'episode_reward_men'.*Did you mean 'episode_reward_mean'\?") as info:
        load_curve(path, y="episode_reward_men")
    message = str(info.value)
    assert "Numeric keys there:" in message
    for key in ("training_iteration", "timesteps_total", "time_total_s", "info/num_steps_trained"):
        assert key in message
    with pytest.raises(ConfigError, match=r"x key 'timestep_total'.*Did you mean 'timesteps_total'\?"):
        load_curve(path, x="timestep_total")


def test_load_curve_key_present_but_always_null_is_no_error(tmp_path: Path) -> None:
    path = write_trial(tmp_path / "t", [None, None])
    xs, ys = load_curve(path)
    assert xs.shape == ys.shape == (0,)


def test_load_curve_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text("")
    xs, ys = load_curve(path, y="anything")
    assert len(xs) == len(ys) == 0


# ---------------------------------------------------------------------------- plot_results


def _colour_pixels(image: np.ndarray, colour: str) -> int:
    from matplotlib.colors import to_rgb

    rgb = image[..., :3]
    return int(np.all(np.abs(rgb - np.array(to_rgb(colour))) < 0.02, axis=-1).sum())


def test_plot_results_draws_both_trials(two_trials: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib
    import matplotlib.image

    out = plot_results(two_trials, tmp_path / "plots" / "curve.png")
    assert out == tmp_path / "plots" / "curve.png"
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert not [p for p in out.parent.iterdir() if p != out], "temporary file left behind"

    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50, "image looks blank"
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    for colour in cycle[:2]:
        assert _colour_pixels(image, colour) > 100, f"no line drawn in {colour}"
    assert _colour_pixels(image, cycle[2]) < 20  # only two trials, so no third line


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The matplotlib Figures that ``plot_results`` saves, in order (needs matplotlib)."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    saved: list[Figure] = []
    original = Figure.savefig

    def spy(self: Figure, *args: Any, **kwargs: Any) -> None:
        saved.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


def _legend_texts(figure: Any) -> list[str]:
    (ax,) = figure.axes
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def test_plot_results_labels_axes_and_legend(two_trials: Path, tmp_path: Path, drawn: list[Any]) -> None:
    plot_results(two_trials, tmp_path / "c.png", x="training_iteration", title="My runs")
    (ax,) = drawn[0].axes
    assert ax.get_xlabel() == "training_iteration"
    assert ax.get_ylabel() == "episode_reward_mean"
    assert ax.get_title() == "My runs"
    assert _legend_texts(drawn[0]) == ["PPO_cartpole/trial_a", "PPO_cartpole/trial_b"]


def test_plot_results_shortens_long_labels_and_single_trial(tmp_path: Path, drawn: list[Any]) -> None:
    long_name = "PPO_CartPole-v1_0_lr=0.001,num_sgd_iter=10,train_batch_size=4000_2024-01-01_12-00-00abcdef"
    trial = tmp_path / "exp" / long_name
    write_trial(trial, [1.0, 2.0])

    plot_results(tmp_path, tmp_path / "a.png")
    (label,) = _legend_texts(drawn[-1])
    assert len(label) <= 48 and "…" in label
    assert label.startswith("exp/PPO_CartPole") and label.endswith("abcdef")

    plot_results(trial, tmp_path / "b.png")  # the trial folder itself: labelled by its own name
    (label,) = _legend_texts(drawn[-1])
    assert label.endswith("abcdef")
    assert drawn[-1].axes[0].get_title() == long_name


def test_plot_results_replaces_existing_output(two_trials: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.png"
    out.write_bytes(b"old")
    plot_results(two_trials, out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "results"]


def test_plot_results_svg_by_suffix_and_bad_suffix(two_trials: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = plot_results(two_trials, tmp_path / "curve.svg")
    assert b"<svg" in out.read_bytes()[:1000]
    with pytest.raises(ConfigError, match=r"cannot write a 'pgn' image.*Did you mean 'png'\?"):
        plot_results(two_trials, tmp_path / "curve.pgn")
    assert not (tmp_path / "curve.pgn").exists()


def test_plot_results_nothing_to_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_trial(tmp_path / "exp" / "t", [None, None])
    with pytest.raises(ConfigError, match=r"nothing to plot"):
        plot_results(tmp_path, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_results_errors_from_loading(two_trials: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ConfigError, match="does not exist"):
        plot_results(tmp_path / "missing", tmp_path / "c.png")
    with pytest.raises(ConfigError, match="Did you mean 'episode_reward_mean'"):
        plot_results(two_trials, tmp_path / "c.png", y="episode_reward")
    assert not (tmp_path / "c.png").exists()


def test_plot_results_without_matplotlib(two_trials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes ``import name`` raise ImportError
    with pytest.raises(PluginUnavailableError, match=r"pip install -c constraints.txt './core\[plot\]'"):
        plot_results(two_trials, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


# ---------------------------------------------------------------------------- a grid: panels and labels


def write_params(folder: Path, params: dict[str, Any]) -> None:
    (folder / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True))


BASE = {"run": "PPO", "framework": "torch", "gamma": 0.99, "model": {"fcnet_hiddens": [64, 64]}, "seed": 0}


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    """Four CartPole trials of a 2x2 grid (lr x num_sgd_iter) and one Pendulum trial, as rlcore writes them."""
    root = tmp_path / "results"
    for i, (lr, epochs) in enumerate([(0.003, 4), (0.001, 4), (0.003, 8), (0.001, 8)]):
        trial = root / "grid" / f"PPO_CartPole-v1_{i}_lr={lr},num_sgd_iter={epochs}_2026-11-29"
        write_trial(trial, [10.0 * (i + 1), 100.0 * (i + 1), 400.0])
        write_params(trial, {**BASE, "env": "CartPole-v1", "lr": lr, "num_sgd_iter": epochs})
    pendulum = root / "PPO_Pendulum-v1" / "PPO_Pendulum-v1_2026-11-29"
    write_trial(pendulum, [-1400.0, -1200.0, -900.0])
    write_params(pendulum, {**BASE, "env": "Pendulum-v1", "lr": 0.0003, "num_sgd_iter": 10})
    return root


def test_plot_results_one_panel_per_env(grid: Path, tmp_path: Path, drawn: list[Any]) -> None:
    plot_results(grid, tmp_path / "grid.png", title="grid")
    cartpole, pendulum = drawn[0].axes
    assert (cartpole.get_title(), pendulum.get_title()) == ("CartPole-v1", "Pendulum-v1")
    assert drawn[0].get_suptitle() == "grid"
    # each panel has a y axis of its own: Pendulum's -1400..-900 does not squash CartPole's 10..400
    assert cartpole.get_ylim()[0] > -100 and pendulum.get_ylim()[1] < 0
    assert len(cartpole.get_lines()) == 4 and len(pendulum.get_lines()) == 1


def test_plot_results_labels_trials_by_what_differs(grid: Path, tmp_path: Path, drawn: list[Any]) -> None:
    plot_results(grid, tmp_path / "grid.png")
    cartpole, pendulum = drawn[0].axes
    labels = [t.get_text() for t in cartpole.get_legend().get_texts()]
    assert labels == [
        "lr=0.003, num_sgd_iter=4",
        "lr=0.001, num_sgd_iter=4",
        "lr=0.003, num_sgd_iter=8",
        "lr=0.001, num_sgd_iter=8",
    ]
    assert len(set(labels)) == 4
    # alone in its panel, the Pendulum trial has nothing to tell apart: its folder names it
    (label,) = [t.get_text() for t in pendulum.get_legend().get_texts()]
    assert label == "PPO_Pendulum-v1/PPO_Pendulum-v1_2026-11-29"


def test_plot_results_one_env_folder_gets_config_labels(grid: Path, tmp_path: Path, drawn: list[Any]) -> None:
    plot_results(grid / "grid", tmp_path / "grid.png")
    (ax,) = drawn[0].axes
    assert ax.get_title() == "CartPole-v1" and drawn[0].get_suptitle() == "grid"
    assert _legend_texts(drawn[0])[0] == "lr=0.003, num_sgd_iter=4"


def test_config_labels_nested_unset_and_alike() -> None:
    from rlcore.plot import config_labels

    a = {"lr": 0.001, "model": {"fcnet_hiddens": [64, 64]}}
    b = {"lr": 0.001, "model": {"fcnet_hiddens": [32]}, "num_sgd_iter": 8}
    assert config_labels([a, b], ["ta", "tb"]) == [
        "model/fcnet_hiddens=[64,64], num_sgd_iter=(unset)",
        "model/fcnet_hiddens=[32], num_sgd_iter=8",
    ]
    # configs alike (a run and its repeat): the folders tell them apart
    assert config_labels([a, dict(a)], ["ta", "tb"]) == ["ta", "tb"]
    # two alike among others: their folders are appended
    assert config_labels([a, dict(a), b], ["ta", "tb", "tc"])[:2] == [
        "model/fcnet_hiddens=[64,64], num_sgd_iter=(unset) (ta)",
        "model/fcnet_hiddens=[64,64], num_sgd_iter=(unset) (tb)",
    ]


def test_config_labels_shorten_paths() -> None:
    """A restored run differs by restored_from, a long path: its last two parts are shown."""
    from rlcore.plot import config_labels

    restored = "/home/me/rlcore_results/PPO_CartPole-v1/PPO_CartPole-v1_2026-11-29_18-00-00/checkpoint_000003"
    labels = config_labels([{"lr": 0.1}, {"lr": 0.1, "restored_from": restored}], ["a", "b"])
    assert labels == ["restored_from=(unset)", "restored_from=…/PPO_CartPole-v1_2026-11-29_18-00-00/checkpoint_000003"]


def test_tune_params_without_env_use_the_results_config(tmp_path: Path, drawn: list[Any]) -> None:
    """Ray Tune's params.json may lack env; the config in each result line has it."""
    for i, lr in enumerate([0.01, 0.02]):
        trial = tmp_path / "exp" / f"trial_{i}"
        trial.mkdir(parents=True)
        config = {"env": "CartPole-v1", "lr": lr}
        (trial / "result.json").write_text(
            result_line(1, 5.0, config=config) + "\n" + result_line(2, 9.0, config=config)
        )
        (trial / "params.json").write_text("not json")  # unreadable: falls back to the results' config
    plot_results(tmp_path, tmp_path / "c.png")
    (ax,) = drawn[0].axes
    assert ax.get_title() == "CartPole-v1"
    assert _legend_texts(drawn[0]) == ["lr=0.01", "lr=0.02"]


def test_cli_plot_of_a_grid(grid: Path, tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    from rlcore.cli import main

    assert main(["plot", str(grid), "-o", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").read_bytes().startswith(PNG_SIGNATURE)
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'grid.png'}"
