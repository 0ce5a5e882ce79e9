"""The KV secrets engine: version 2 (``secret/`` in dev mode) and the plain version 1."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from jitops.sandbox.vault.errors import VaultAPIError
from jitops.sandbox.vault.routing import Call, Reply, Router, keys_reply, no_content, response
from jitops.sandbox.vault.util import as_bool, as_int, now, rfc3339


@dataclass
class Version:
    data: dict[str, Any] | None
    created: float
    deleted: float | None = None
    destroyed: bool = False

    def metadata(self, number: int, custom: dict[str, str] | None) -> dict[str, Any]:
        return {
            "created_time": rfc3339(self.created),
            "custom_metadata": custom,
            "deletion_time": rfc3339(self.deleted) or "",
            "destroyed": self.destroyed,
            "version": number,
        }


@dataclass
class Secret:
    versions: dict[int, Version] = field(default_factory=dict)
    current: int = 0
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    max_versions: int = 0
    cas_required: bool = False
    custom: dict[str, str] | None = None


def _children(paths: list[str], prefix: str) -> list[str]:
    keys: set[str] = set()
    for path in paths:
        if path.startswith(prefix):
            head, sep, _ = path[len(prefix) :].partition("/")
            keys.add(head + sep)
    return sorted(keys)


def _prefix(call: Call) -> str:
    path = call.params.get("path", "").strip("/")
    return path + "/" if path else ""


class KVv2:
    """``<mount>/data|metadata|delete|undelete|destroy/<path>`` and ``<mount>/config``."""

    def __init__(self) -> None:
        self.secrets: dict[str, Secret] = {}
        self.max_versions = 0
        self.cas_required = False
        self.router = Router()
        r = self.router
        r.add(r"config", get=self.read_config, post=self.write_config)
        r.add(
            r"data/(?P<path>.+)",
            get=self.read,
            post=self.write,
            delete=self.delete_latest,
            exists=self._exists,
        )
        r.add(
            r"metadata/?(?P<path>.*)",
            get=self.read_metadata,
            post=self.write_metadata,
            delete=self.delete_metadata,
            list_=self.list,
        )
        r.add(r"delete/(?P<path>.+)", post=self.delete_versions)
        r.add(r"undelete/(?P<path>.+)", post=self.undelete_versions)
        r.add(r"destroy/(?P<path>.+)", post=self.destroy_versions)

    def close(self) -> None:
        return None

    def _exists(self, call: Call) -> bool:
        return call.params["path"].strip("/") in self.secrets

    def _secret(self, call: Call) -> Secret | None:
        return self.secrets.get(call.params.get("path", "").strip("/"))

    def read_config(self, call: Call) -> Reply:
        return response(
            {
                "cas_required": self.cas_required,
                "delete_version_after": "0s",
                "max_versions": self.max_versions,
            }
        )

    def write_config(self, call: Call) -> Reply:
        if "max_versions" in call.body:
            self.max_versions = as_int(call.body["max_versions"], "max_versions")
        if "cas_required" in call.body:
            self.cas_required = as_bool(call.body["cas_required"], "cas_required")
        return no_content()

    def read(self, call: Call) -> Reply:
        secret = self._secret(call)
        if secret is None:
            raise VaultAPIError(404)
        number = as_int(call.request.query.get("version") or 0, "version") or secret.current
        version = secret.versions.get(number)
        if version is None:
            raise VaultAPIError(404)
        body = {"data": None, "metadata": version.metadata(number, secret.custom)}
        if version.deleted is not None or version.destroyed:
            reply = response(body)
            reply.status = 404
            return reply
        body["data"] = copy.deepcopy(version.data)
        return response(body)

    def write(self, call: Call) -> Reply:
        path = call.params["path"].strip("/")
        data = call.body.get("data")
        if not isinstance(data, dict):
            raise VaultAPIError(400, "no data provided")
        options = call.body.get("options") or {}
        secret = self.secrets.get(path)
        cas = options.get("cas") if isinstance(options, dict) else None
        required = self.cas_required or (secret is not None and secret.cas_required)
        if cas is None and required:
            raise VaultAPIError(400, "check-and-set parameter required for this call")
        if cas is not None:
            current = secret.current if secret is not None else 0
            if as_int(cas, "cas") != current:
                raise VaultAPIError(
                    400, "check-and-set parameter did not match the current version"
                )
        if secret is None:
            secret = self.secrets[path] = Secret()
        at = now()
        secret.current += 1
        secret.versions[secret.current] = Version(copy.deepcopy(data), at)
        secret.updated = at
        limit = secret.max_versions or self.max_versions or 10
        for old in sorted(secret.versions)[:-limit]:
            del secret.versions[old]
        return response(secret.versions[secret.current].metadata(secret.current, secret.custom))

    def delete_latest(self, call: Call) -> Reply:
        secret = self._secret(call)
        if secret is not None and secret.current in secret.versions:
            version = secret.versions[secret.current]
            if version.deleted is None:
                version.deleted = now()
        return no_content()

    def _versions(self, call: Call) -> tuple[Secret | None, list[int]]:
        raw = call.body.get("versions")
        if not raw:
            raise VaultAPIError(400, "no version number provided")
        versions = [as_int(v, "versions") for v in (raw if isinstance(raw, list) else [raw])]
        return self._secret(call), versions

    def delete_versions(self, call: Call) -> Reply:
        secret, versions = self._versions(call)
        for number in versions:
            version = secret.versions.get(number) if secret else None
            if version is not None and version.deleted is None:
                version.deleted = now()
        return no_content()

    def undelete_versions(self, call: Call) -> Reply:
        secret, versions = self._versions(call)
        for number in versions:
            version = secret.versions.get(number) if secret else None
            if version is not None and not version.destroyed:
                version.deleted = None
        return no_content()

    def destroy_versions(self, call: Call) -> Reply:
        secret, versions = self._versions(call)
        for number in versions:
            version = secret.versions.get(number) if secret else None
            if version is not None:
                version.destroyed, version.data = True, None
        return no_content()

    def read_metadata(self, call: Call) -> Reply:
        secret = self._secret(call)
        if secret is None:
            raise VaultAPIError(404)
        versions = {
            str(n): {
                "created_time": rfc3339(v.created),
                "deletion_time": rfc3339(v.deleted) or "",
                "destroyed": v.destroyed,
            }
            for n, v in sorted(secret.versions.items())
        }
        return response(
            {
                "cas_required": secret.cas_required,
                "created_time": rfc3339(secret.created),
                "current_version": secret.current,
                "custom_metadata": secret.custom,
                "delete_version_after": "0s",
                "max_versions": secret.max_versions,
                "oldest_version": min(secret.versions) if secret.versions else 0,
                "updated_time": rfc3339(secret.updated),
                "versions": versions,
            }
        )

    def write_metadata(self, call: Call) -> Reply:
        path = call.params["path"].strip("/")
        secret = self.secrets.setdefault(path, Secret())
        if "max_versions" in call.body:
            secret.max_versions = as_int(call.body["max_versions"], "max_versions")
        if "cas_required" in call.body:
            secret.cas_required = as_bool(call.body["cas_required"], "cas_required")
        if "custom_metadata" in call.body:
            custom = call.body["custom_metadata"] or {}
            secret.custom = {str(k): str(v) for k, v in custom.items()} or None
        return no_content()

    def delete_metadata(self, call: Call) -> Reply:
        self.secrets.pop(call.params["path"].strip("/"), None)
        return no_content()

    def list(self, call: Call) -> Reply:
        return keys_reply(_children(list(self.secrets), _prefix(call)))


class KVv1:
    """The unversioned KV engine: ``<mount>/<path>`` read, write, delete and list."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.router = Router()
        self.router.add(
            r"(?P<path>.*)",
            get=self.read,
            post=self.write,
            delete=self.delete,
            list_=self.list,
            exists=self._exists,
        )

    def close(self) -> None:
        return None

    def _exists(self, call: Call) -> bool:
        return call.params["path"].strip("/") in self.items

    def read(self, call: Call) -> Reply:
        data = self.items.get(call.params["path"].strip("/"))
        if data is None:
            raise VaultAPIError(404)
        return response(copy.deepcopy(data), lease_duration=768 * 3600)

    def write(self, call: Call) -> Reply:
        path = call.params["path"].strip("/")
        if not path:
            raise VaultAPIError(405)
        self.items[path] = copy.deepcopy(call.body)
        return no_content()

    def delete(self, call: Call) -> Reply:
        self.items.pop(call.params["path"].strip("/"), None)
        return no_content()

    def list(self, call: Call) -> Reply:
        return keys_reply(_children(list(self.items), _prefix(call)))


class Cubbyhole(KVv1):
    """Per-token private storage: each token sees only its own items."""

    def _scoped(self, call: Call) -> None:
        owner = call.token.id if call.token is not None else ""
        call.params["path"] = f"{owner}/{call.params.get('path', '').strip('/')}"

    def read(self, call: Call) -> Reply:
        self._scoped(call)
        return super().read(call)

    def write(self, call: Call) -> Reply:
        self._scoped(call)
        return super().write(call)

    def delete(self, call: Call) -> Reply:
        self._scoped(call)
        return super().delete(call)

    def list(self, call: Call) -> Reply:
        self._scoped(call)
        return super().list(call)
