"""A JSON-RPC client that frames requests exactly as SPDK's rpc.py does
(python/spdk/rpc/client.py): each request json.dumps(..., indent=2), sent
with no length prefix; responses decoded one JSON value at a time with
raw_decode.  Written for the tests; it talks to nvmfd as rpc.py would."""

import json
import socket


class RpcError(Exception):
    def __init__(self, error):
        super().__init__("%s (%s)%s" % (error.get("message"), error.get("code"),
                                        ": " + error["data"] if error.get("data") else ""))
        self.error = error
        self.code = error.get("code")
        self.message = error.get("message")


class Client:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = ""
        self.next_id = 0

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def request(self, method, params=None, req_id=None):
        """The request object as rpc.py builds it (params only when non-empty)."""
        if req_id is None:
            self.next_id += 1
            req_id = self.next_id
        req = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params:
            req["params"] = params
        return req

    def send(self, method, params=None):
        req = self.request(method, params)
        self.send_raw(json.dumps(req, indent=2))
        return req["id"]

    def recv(self):
        """One response value; None when the server closed the connection first."""
        while True:
            stripped = self.buf.lstrip()
            if stripped:
                try:
                    obj, idx = json.JSONDecoder().raw_decode(stripped)
                    self.buf = stripped[idx:]
                    return obj
                except ValueError:
                    pass
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data.decode()

    def response(self, method, params=None):
        req_id = self.send(method, params)
        resp = self.recv()
        assert resp is not None, "connection closed"
        assert resp.get("jsonrpc") == "2.0" and resp.get("id") == req_id, resp
        return resp

    def call(self, method, params=None):
        """The result, or RpcError."""
        resp = self.response(method, params)
        if "error" in resp:
            raise RpcError(resp["error"])
        return resp["result"]

    def error(self, method, params=None):
        """The error object of a call that must fail."""
        resp = self.response(method, params)
        assert "error" in resp, "%s %s succeeded: %s" % (method, params, resp)
        assert "result" not in resp
        return resp["error"]
