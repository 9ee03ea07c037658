"""GET /sharex.sxcu: the file ShareX imports, parsed as ShareX reads it, and used as
ShareX would use it against the running server."""

from __future__ import annotations

import requests

from tests.support.servers import ServerProcess

TOKEN = "sharex-test-token"


def upload_as_sharex(config: dict, content: bytes, token: str | None = None) -> str:
    """What ShareX does with the config: the request it describes, then its URL
    template ({json:link}) filled from the reply."""
    headers = {
        k: v.replace("YOUR-UPLOAD-TOKEN", token or "") for k, v in config.get("Headers", {}).items()
    }
    assert config["Body"] == "MultipartFormData" and config["RequestMethod"] == "POST"
    reply = requests.post(
        config["RequestURL"],
        files={config["FileFormName"]: ("shot.png", content)},
        headers=headers,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert config["URL"] == "{json:link}"
    assert config["DeletionURL"] == "{json:delete_url}"
    return reply.json()["link"]


def test_sharex_config_uploads_to_this_server(local_server: ServerProcess) -> None:
    reply = requests.get(f"{local_server.url}/sharex.sxcu", timeout=10)
    assert reply.status_code == 200
    assert 'filename="paimon.sxcu"' in reply.headers["Content-Disposition"]
    config = reply.json()
    assert config["RequestURL"] == f"{local_server.url}/upload"
    assert "Headers" not in config  # open server: nothing to fill in
    link = upload_as_sharex(config, b"\x89PNG fake")
    assert requests.get(link, timeout=10).content == b"\x89PNG fake"


def test_with_tokens_the_config_asks_for_one_and_never_holds_it(server_factory) -> None:
    server = server_factory(auth_tokens=TOKEN)
    reply = requests.get(f"{server.url}/sharex.sxcu", timeout=10)
    assert TOKEN not in reply.text
    config = reply.json()
    assert config["Headers"] == {"Authorization": "Bearer YOUR-UPLOAD-TOKEN"}
    link = upload_as_sharex(config, b"shot", TOKEN)
    assert requests.get(link, timeout=10).content == b"shot"
