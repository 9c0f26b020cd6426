"""A plugin certificate that cannot serve HTTPS: one line naming the file, exit 3, no traceback, no
"in use?" (the port is free; the file is wrong)."""

from __future__ import annotations

from test_cli import run


def check(result, *needles):
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: [web] "), result.stderr
    assert "Traceback" not in result.stderr and "in use" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_web_with_a_non_pem_certificate(lab, tmp_path):
    bad = tmp_path / "cert.pem"
    bad.write_text("this is not a certificate\n")
    check(run("web", "--lab", "--port", "0", "--cert", str(bad), "--key", str(bad),
              env={"VSGT_LAB_HOME": str(lab.run_dir)}), str(bad), "holds no PEM certificate")


def test_serve_with_a_missing_certificate(lab, tmp_path):
    missing = tmp_path / "missing-cert.pem"
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[web]\ncert_file = "{missing}"\nkey_file = "{key}"\n')
    check(run("serve", "--lab", "--web", "--port", "0", env={"VSGT_LAB_HOME": str(lab.run_dir),
                                                            "VSGT_CONFIG": str(config)}, timeout=60),
          str(missing), "No such file")
