"""`charloom data inspect` / `data seed` through the real CLI entry point."""

import pytest

from charloom.cli import main


def test_inspect_directory_corpus(tmp_path, capsys):
    (tmp_path / "b.txt").write_text("Second book.\n" * 400, encoding="utf-8")
    (tmp_path / "a.txt").write_text("First book.\n" * 400, encoding="utf-8")
    assert (
        main(
            [
                "data",
                "inspect",
                "--corpus",
                str(tmp_path),
                "--seq-len",
                "20",
                "--batch-size",
                "8",
                "--sample-chars",
                "30",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "files:             2" in out
    assert "characters:        10,000" in out
    assert "batch shapes:      input (8, 20), target (8, 20)" in out
    assert out.endswith("sample:\nFirst book.\nFirst book.\nFirst \n")  # name order: a.txt first


def test_inspect_chinese_text(tmp_path, capsys):
    path = tmp_path / "poem.txt"
    path.write_text("床前明月光，疑是地上霜。举头望明月，低头思故乡。🌙\n" * 200, encoding="utf-8")
    assert (
        main(["data", "inspect", "--corpus", str(path), "--seq-len", "16", "--batch-size", "4"])
        == 0
    )
    out = capsys.readouterr().out
    assert "vocabulary size:   21" in out
    assert "🌙" in out


def test_inspect_shakespeare(shakespeare_path, capsys):
    assert main(["data", "inspect", "--corpus", "shakespeare"]) == 0
    out = capsys.readouterr().out
    assert "characters:        1,115,394" in out
    assert "vocabulary size:   65" in out
    assert "split:             train 1,003,855 chars / validation 111,539 chars" in out
    assert "First Citizen" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["data", "inspect", "--corpus", "/nonexistent"], "is not a file, a directory"),
        (["data", "inspect", "--corpus", "x", "--seq-len", "0"], "seq_len must be > 0"),
        (["data", "seed", "/nonexistent"], "is not a file"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
