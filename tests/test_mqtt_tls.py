"""``mqtts://`` with a CA file, and a user and password from the URL, against a Mosquitto that requires both
(certificates made by ``openssl`` for 127.0.0.1; a password file made by ``mosquitto_passwd``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from faultdx.ingest.runner import load_diagnosers, make_listener
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.store import Store
from faultdx.settings import Settings
from tests.mqtt_support import Broker, require_mosquitto
from tests.service_support import RATE, make_model_dir
from tests.test_mqtt import wait_for

pytestmark = pytest.mark.timeout(180)


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if found is None:
        message = f"{name} not found: the TLS listener test needs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, and a server certificate it signed for IP 127.0.0.1."""
    openssl = tool("openssl")
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                        "server.pem"))
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    new_key = ("-newkey", "rsa:2048", "-nodes")
    run("req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=faultdx test CA")
    run("req", *new_key, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
        str(cert), "-days", "2", "-extfile", str(ext))
    return {"ca": ca, "cert": cert, "key": key}


def test_mqtts_with_ca_file_and_credentials_in_the_url(tmp_path) -> None:
    mosquitto = require_mosquitto()
    certs = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run([tool("mosquitto_passwd"), "-b", "-c", str(passwords), "plant", "s3cret/pw"], check=True,
                   capture_output=True, timeout=30)
    tls = f"cafile {certs['ca']}\ncertfile {certs['cert']}\nkeyfile {certs['key']}\n"
    broker = Broker(mosquitto, anonymous=False, extra=tls + f"password_file {passwords}\n")
    broker.start()
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    Store(url).create_asset(AssetSpec(name="pump-7", rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    model = make_model_dir(tmp_path / "tiny-aprelu")
    try:
        for password, connects in (("wrong", False), ("s3cret%2Fpw", True)):
            settings = Settings(mqtt_url=f"mqtts://plant:{password}@127.0.0.1:{broker.port}",
                                mqtt_ca_file=certs["ca"], mqtt_client_id=f"tls-{connects}", database_url=url,
                                model=[str(model)], trace=False, mqtt_reconnect_max_s=1)
            listener = make_listener(settings, load_diagnosers(settings))
            listener.start()
            try:
                if connects:
                    wait_for(lambda: listener.state.connected, "the TLS listener to connect", timeout=30)  # noqa: B023
                else:
                    wait_for(lambda: listener.state.last_error is not None, "a refused login", timeout=30)  # noqa: B023
                    assert not listener.state.connected
            finally:
                listener.stop()
    finally:
        broker.remove()
