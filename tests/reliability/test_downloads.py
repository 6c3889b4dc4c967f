"""Weight downloads against a local HTTP server on 127.0.0.1: verified before use, retried once on a
broken transfer, never half-written, safe when two processes fetch at once."""
import http.server
import json
import multiprocessing
import shutil
import threading

import pytest
import torch

import zoo
from zoo.errors import WeightsError
from zoo.hub.download import fetch, file_sha256


class _Server:
    """Serves one payload; ``plan`` lists what each request gets: 'ok', 'truncate' or 'corrupt'."""

    def __init__(self, payload: bytes, plan=("ok",)):
        self.payload, self.plan, self.requests = payload, list(plan), 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/weights.safetensors":
                    self.send_error(404)
                    return
                kind = server.plan[min(server.requests, len(server.plan) - 1)]
                server.requests += 1
                body = server.payload
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if kind == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()  # the client sees fewer bytes than announced
                    return
                if kind == "corrupt":
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.safetensors"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def remote_weights(tiny_weights, tmp_path, monkeypatch):
    """The tiny published weight with its card's url pointing at a local server; the file itself is
    only on the server, the hub cache is empty."""
    cards = tmp_path / "cards"
    cards.mkdir()
    card_path = next(tiny_weights.glob("*.json"))
    card = json.loads(card_path.read_text())
    payload = (tiny_weights / card["file"]).read_bytes()
    monkeypatch.setenv("ZOO_WEIGHTS", str(cards))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    servers = []

    def serve(plan=("ok",)):
        server = _Server(payload, plan)
        servers.append(server)
        (cards / card_path.name).write_text(json.dumps({**card, "url": server.url}))
        return server, card

    yield serve
    for server in servers:
        server.close()


def test_download_verifies_and_lands_in_the_hub_cache(remote_weights):
    server, card = remote_weights()
    model = zoo.create_model("stbp_cnn.tiny")
    cached = torch.hub.get_dir() + "/checkpoints/" + card["file"]
    assert server.requests == 1 and file_sha256(cached) == card["sha256"]
    zoo.create_model("stbp_cnn.tiny")
    assert server.requests == 1  # the verified copy is reused
    assert model(torch.rand(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("first", ["truncate", "corrupt"])
def test_a_broken_transfer_is_retried_once(remote_weights, first):
    server, _ = remote_weights(plan=(first, "ok"))
    zoo.create_model("stbp_cnn.tiny")
    assert server.requests == 2


@pytest.mark.parametrize("plan, message", [(("truncate",), "transfer ended after"),
                                           (("corrupt",), "content has sha256")])
def test_a_transfer_that_stays_broken_fails_cleanly_and_leaves_nothing(remote_weights, plan, message, tmp_path):
    server, card = remote_weights(plan=plan)
    with pytest.raises(WeightsError, match=message):
        zoo.create_model("stbp_cnn.tiny")
    assert server.requests == 2
    leftovers = list((tmp_path / "torch_home").rglob("*"))
    assert not [p for p in leftovers if p.is_file()]  # no partial or unverified file


def test_missing_url_and_unreachable_host(remote_weights, tmp_path):
    server, card = remote_weights()
    with pytest.raises(WeightsError, match="HTTP 404"):
        fetch(server.url.replace("weights", "nothing"), tmp_path / "x.safetensors", card["sha256"], progress=False)
    with pytest.raises(WeightsError, match="could not download"):
        fetch("http://127.0.0.1:9/none", tmp_path / "x.safetensors", card["sha256"], timeout=2, progress=False)


def _load_in_process(cards, torch_home, queue):
    import os

    os.environ["ZOO_WEIGHTS"], os.environ["TORCH_HOME"] = cards, torch_home
    import zoo as zoo_in_child

    model = zoo_in_child.create_model("stbp_cnn.tiny")
    queue.put(float(sum(p.sum() for p in model.parameters())))


def test_two_processes_fetching_at_once_both_get_the_verified_file(remote_weights, tmp_path):
    server, card = remote_weights()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    args = (str(tmp_path / "cards"), str(tmp_path / "torch_home"), queue)
    workers = [context.Process(target=_load_in_process, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    results = [queue.get(timeout=5) for _ in workers]
    assert all(worker.exitcode == 0 for worker in workers) and results[0] == results[1]
    files = [p for p in (tmp_path / "torch_home").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [card["file"]] and file_sha256(files[0]) == card["sha256"]


def test_user_checkpoints_load_without_running_code(tiny_weights, tmp_path):
    card = json.loads(next(tiny_weights.glob("*.json")).read_text())
    model = zoo.create_model("stbp_cnn", **card["kwargs"])
    state = zoo.create_model("stbp_cnn", **card["kwargs"]).state_dict()
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ddp.pth")
    zoo.load_weights(model, tmp_path / "ddp.pth")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    shutil.copy(tiny_weights / card["file"], tmp_path / "w.safetensors")
    zoo.load_weights(model, tmp_path / "w.safetensors")

    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('code ran')",))

    torch.save({"model": state, "evil": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="could run code"):
        zoo.load_weights(model, tmp_path / "evil.pt")
