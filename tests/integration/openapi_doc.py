"""docs/openapi.yaml as the tests read it: which documented route a request path
belongs to, which statuses it may answer, and whether one real answer (status,
headers, body) matches what the document says of it.

Used by test_openapi.py (answers produced on purpose) and by run.py (every
answer the whole integration suite saw). Needs python3-yaml and
python3-jsonschema (Debian 12's 4.10 or later: only local $refs are used).
"""

import json
import os
import posixpath
import re
import urllib.parse

import jsonschema
import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC_FILE = os.path.join(TOP, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def nginx_path(raw):
    """The path nginx routes on ($document_uri): query dropped, %XX decoded, // merged, dot segments resolved."""
    path = urllib.parse.unquote(raw.split("?", 1)[0], errors="surrogateescape")
    trailing = path.endswith("/")
    path = re.sub("/+", "/", path)
    norm = posixpath.normpath(path) if path else "/"
    if norm.startswith("//"):
        norm = norm[1:]
    if trailing and norm != "/":
        norm += "/"
    return norm


class Doc:
    def __init__(self, path=DOC_FILE):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.components = self.doc["components"]
        # Literal paths before templated ones, as the app's router does
        # (/api/cart/add before /api/cart/{cart_id}).
        self.templates = []
        for tpl in self.doc["paths"]:
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tpl)) + "$"
            self.templates.append((tpl.count("{"), tpl, re.compile(regex)))
        self.templates.sort(key=lambda t: t[0])
        self.unrouted = self.doc["x-stockd-unrouted"]

    # --- the document ------------------------------------------------------------

    def deref(self, obj):
        """Follow a {"$ref": "#/..."} (only whole-object refs outside schemas)."""
        while isinstance(obj, dict) and set(obj) == {"$ref"}:
            obj = self.pointer(obj["$ref"])
        return obj

    def pointer(self, ref):
        assert ref.startswith("#/"), "only local refs: %s" % ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def template(self, path):
        """The documented path template a concrete request path belongs to, or None."""
        p = nginx_path(path)
        for _, tpl, rx in self.templates:
            if rx.match(p):
                return tpl
        return None

    def operations(self, tpl):
        return {m.upper(): op for m, op in self.doc["paths"][tpl].items() if m in METHODS}

    def documented(self):
        """Every (METHOD, template, status) the document lists."""
        out = []
        for tpl in self.doc["paths"]:
            for method, op in self.operations(tpl).items():
                for status in op["responses"]:
                    out.append((method, tpl, int(status)))
        return out

    def unrouted_statuses(self, kind):
        return {int(s) for s in self.unrouted[kind]}

    def allowed(self, method, path):
        """(response object or None, where): what the document says a request may answer with each status."""
        tpl = self.template(path)
        if tpl is None:
            return None, {s: self.deref({"$ref": r}) for s, r in self.unrouted["notARoute"].items()}
        ops = self.operations(tpl)
        if method in ops:
            return tpl, {s: self.deref(r) for s, r in ops[method]["responses"].items()}
        return tpl, {s: self.deref({"$ref": r}) for s, r in self.unrouted["otherMethod"].items()}

    def error_codes(self, resp):
        """The error codes a response object allows (a set), or None when it is not the error shape."""
        schema = resp.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") != "#/components/schemas/Error":
            return None
        code = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
        if "const" in code:
            return {code["const"]}
        return set(code.get("enum", [])) or None

    # --- checking one answer --------------------------------------------------------

    def validator(self, schema):
        # The schema with the document's components beside it: every
        # "#/components/schemas/X" resolves inside this one root.
        root = dict(schema)
        root["components"] = self.components
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return jsonschema.Draft202012Validator(root)

    def check(self, method, path, status, headers, body):
        """Problems (a list of strings) of one answer against the document; [] when it matches.
        headers: anything with .get(name) that is case-insensitive (http.client's HTTPMessage) or a dict
        with lower-case keys."""
        def header(name):
            v = headers.get(name)
            return v if v is not None else headers.get(name.lower())
        tpl, responses = self.allowed(method, path)
        where = "%s %s (%s)" % (method, path, tpl or "no route")
        resp = responses.get(str(status))
        if resp is None:
            return ["%s answered %d, which the description does not list (it lists %s)" % (
                where, status, ", ".join(sorted(responses)))]
        problems = []
        for name, h in (resp.get("headers") or {}).items():
            h = self.deref(h)
            value = header(name)
            if value is None:
                if h.get("required"):
                    problems.append("%s %d: no %s header" % (where, status, name))
                continue
            for e in self.validator(h["schema"]).iter_errors(value):
                problems.append("%s %d: header %s %r: %s" % (where, status, name, value, e.message))
        content = resp.get("content") or {}
        ctype = header("Content-Type") or ""
        base = ctype.split(";")[0].strip().lower()
        if base not in content:
            problems.append("%s %d: Content-Type %r, the description says %s" % (
                where, status, ctype, " or ".join(content) or "no body"))
            return problems
        if base == "application/json":
            params = [p.strip().lower().replace('"', "") for p in ctype.split(";")[1:]]
            if "charset=utf-8" not in params:
                problems.append("%s %d: Content-Type %r without charset=utf-8" % (where, status, ctype))
            try:
                value = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                problems.append("%s %d: body is not JSON (%s): %r" % (where, status, e, body[:200]))
                return problems
        else:
            try:
                value = body.decode("utf-8")
            except UnicodeDecodeError:
                problems.append("%s %d: body is not UTF-8 text" % (where, status))
                return problems
        for e in self.validator(content[base]["schema"]).iter_errors(value):
            problems.append("%s %d: body at /%s: %s (body %s)" % (
                where, status, "/".join(str(p) for p in e.absolute_path), e.message, body[:300]))
        return problems
