"""The Spark master check (spark/master.py), run before any JVM: a login never reaches the message,
and a bad port is one line, exit 2 (a user's mistake, not an internal error)."""

from __future__ import annotations

from secrets import token_hex

import pytest

from tracestrata.demo.phoenix_server import free_port
from tracestrata.errors import ConfigError, ExitCode, FailingError
from tracestrata.spark.master import master_addresses, require_reachable


def test_a_login_in_a_master_address_is_dropped_before_the_reasons_are_listed() -> None:
    password = "pw-" + token_hex(6)  # made at run time, never a literal
    port = free_port()
    for master in (f"spark://alice:{password}@127.0.0.1:{port}", f"k8s://https://alice:{password}@127.0.0.1:{port}",
                   f"spark://alice:{password}@127.0.0.1:{port},127.0.0.1:{free_port()}"):
        assert master_addresses(master)[0] == ("127.0.0.1", port)
        with pytest.raises(FailingError) as caught:
            require_reachable(master, timeout=2.0)
        text = caught.value.message  # before the last-resort redaction of str()
        assert f"127.0.0.1:{port}: " in text and password not in text and "alice" not in text, text
        assert f"master {master.split('://')[0]}://" in text and "://127.0.0.1" in text, text


def test_a_password_holding_a_slash_is_split_off_whole() -> None:
    password = "pa/ss-" + token_hex(6)
    port, other = free_port(), free_port()
    master = f"spark://alice:{password}@127.0.0.1:{port},127.0.0.1:{other}/"
    assert master_addresses(master) == [("127.0.0.1", port), ("127.0.0.1", other)]
    with pytest.raises(FailingError) as caught:
        require_reachable(master, timeout=2.0)
    assert caught.value.message.startswith(f"cannot reach the Spark master spark://127.0.0.1:{port},127.0.0.1:")
    assert "ss-" not in caught.value.message and "alice" not in caught.value.message


@pytest.mark.parametrize("master", ["k8s://https://127.0.0.1:99999", "spark://127.0.0.1:99999",
                                    "spark://a:7077,b:70x7", "k8s://https://bob:{pw}@127.0.0.1:99999"])
def test_a_bad_port_is_a_config_error_naming_master(master: str) -> None:
    password = "pw-" + token_hex(6)
    master = master.replace("{pw}", password)
    with pytest.raises(ConfigError) as caught:
        master_addresses(master)
    error = caught.value
    assert error.field == "--master" and error.exit_code == ExitCode.USAGE
    assert "bad port" in error.message and password not in error.message and "bob" not in error.message, error.message


def test_spark_sample_with_a_bad_master_port_is_one_line_exit_2(tmp_path, capsys) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]' from a checkout)")
    from tracestrata.cli.main import main

    (tmp_path / "t.jsonl").write_text("")
    code = main(["spark-sample", "--source", f"json:{tmp_path / 't.jsonl'}", "--policy", "examples/policies/crossed.toml",
                 "--out", str(tmp_path / "o"), "--master", "k8s://https://127.0.0.1:99999"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--master: " in err and "bad port" in err, err
    assert "Traceback" not in err and "internal error" not in err


def test_a_port_the_socket_layer_refuses_is_listed_as_a_reason() -> None:
    """Ports that pass the URL parser go to the socket layer as they are; its OverflowError is a reason."""
    import tracestrata.spark.master as master_module

    original = master_module.master_addresses
    try:
        master_module.master_addresses = lambda master: [("127.0.0.1", 70000)]  # what no URL parser lets through
        with pytest.raises(FailingError) as caught:
            require_reachable("spark://127.0.0.1:70000", timeout=1.0)
    finally:
        master_module.master_addresses = original
    assert "127.0.0.1:70000: " in str(caught.value)
