"""Per-identity enhance chains of one enhance actor, loaded on first use.

At most ``size`` fine-tuned chains stay loaded (the least recently used one goes first) beside
the shipped chain, so an actor's memory does not grow with the number of identities in a
dataset. Weights on S3 are copied to a temporary folder only while the model loads.
"""
from __future__ import annotations

import tempfile
from collections import OrderedDict
from pathlib import Path

from raymouth.config import Config
from raymouth.data import storage
from raymouth.models.weights import manifest_path, manifest_uri
from raymouth.restore.chain import EnhanceChain, with_native_weights

SHIPPED = ""  # the key of the shipped (configured) chain


class ChainCache:
    """``get(weights_uri)``: the chain with those native weights (``SHIPPED``: the configured one)."""

    def __init__(self, cfg: Config, size: int) -> None:
        self.cfg = cfg
        self.size = max(1, int(size))
        self.shipped = EnhanceChain(cfg)
        self.chains: OrderedDict[str, EnhanceChain] = OrderedDict()
        self.loads = 0  # fine-tuned chains built so far (a reloaded one counts again)

    def get(self, weights_uri: str) -> EnhanceChain:
        if weights_uri == SHIPPED:
            return self.shipped
        if weights_uri in self.chains:
            self.chains.move_to_end(weights_uri)
            return self.chains[weights_uri]
        chain = self._load(weights_uri)
        self.chains[weights_uri] = chain
        self.loads += 1
        while len(self.chains) > self.size:
            self.chains.popitem(last=False)
        return chain

    def _load(self, weights_uri: str) -> EnhanceChain:
        if not storage.is_s3(weights_uri):
            return EnhanceChain(with_native_weights(self.cfg, weights_uri))
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, weights_uri.rsplit("/", 1)[-1])
            for uri, dst in ((weights_uri, local), (manifest_uri(weights_uri), manifest_path(local))):
                dst.write_bytes(storage.read_bytes(storage.resolve(uri, self.cfg.storage)))
            return EnhanceChain(with_native_weights(self.cfg, local))
