"""A keyed 64-bit hash of trace ids: the only source of randomness in sampling.

Bottom-k on this hash inside a cell is a simple random sample without replacement
as long as the hash behaves like a random function of the id, and it is a pure
function of (seed, id): the same on every process and platform, so re-runs,
streaming and merged partitions all pick the same traces.

The function (version 1; changing it changes every sample, so it is versioned):
the key is the first 16 bytes of sha256(b"tracestrata/hash/v1\\0" + seed) read as
two little-endian 64-bit words k0, k1. The id is UTF-8 encoded, zero-padded to a
multiple of 8 bytes and read as little-endian 64-bit words w_i; then

    h = k0 ^ (len(bytes) * 0x9E3779B97F4A7C15)
    h = fmix64(h ^ w_i)   for every word
    h = fmix64(h ^ k1)

where fmix64 is MurmurHash3's 64-bit finalizer (all arithmetic mod 2**64). It is a
well-mixed keyed hash, not a MAC: it needs to look random, not to resist an
adversary who knows the seed. `hash_id` is the pure-Python reference; `hash_ids`
is the numpy version used on batches and must agree bit for bit (tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from tracestrata.columns import StringColumn

HASH_VERSION = 1
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xFF51AFD7ED558CCD
_C2 = 0xC4CEB9FE1A85EC53


def hash_key(seed: str) -> tuple[int, int]:
    """The two 64-bit key words derived from a policy seed."""
    digest = hashlib.sha256(b"tracestrata/hash/v1\0" + seed.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little")


def _fmix(x: int) -> int:
    x ^= x >> 33
    x = (x * _C1) & _MASK
    x ^= x >> 33
    x = (x * _C2) & _MASK
    x ^= x >> 33
    return x


def hash_id(trace_id: str, key: tuple[int, int]) -> int:
    """Reference implementation: the keyed hash of one id, as a Python int in [0, 2**64)."""
    data = trace_id.encode("utf-8")
    k0, k1 = key
    h = k0 ^ ((len(data) * _GOLDEN) & _MASK)
    padded = data + b"\0" * (-len(data) % 8)
    for offset in range(0, len(padded), 8):
        h = _fmix(h ^ int.from_bytes(padded[offset : offset + 8], "little"))
    return _fmix(h ^ k1)


_S33, _UC1, _UC2 = np.uint64(33), np.uint64(_C1), np.uint64(_C2)


def _fmix_array(x: np.ndarray, spare: np.ndarray | None = None) -> np.ndarray:
    """`_fmix` of every element, in place; `spare` (an array like `x`) saves a temporary per shift."""
    if spare is None:
        spare = np.empty_like(x)
    np.right_shift(x, _S33, out=spare)
    x ^= spare
    x *= _UC1
    np.right_shift(x, _S33, out=spare)
    x ^= spare
    x *= _UC2
    np.right_shift(x, _S33, out=spare)
    x ^= spare
    return x


_CHUNK = 16_384  # ids mixed per step: the temporaries stay in cache and their memory is reused


def _same_length_ascii(ids: Sequence[str]) -> tuple[np.ndarray, int] | None:
    """The common case, ids of one length in ASCII (hex, UUIDs): one join and one encode.

    Returns the (count, length + 1) byte matrix of the ids, each followed by a NUL,
    and the id length. The lengths are all equal exactly when the buffer has the
    right size and its NUL bytes are exactly the `count` separator slots (checked in
    numpy, instead of calling `len` on every id).
    """
    count = len(ids)
    length = len(ids[0])
    joined = "\0".join(ids) + "\0" if isinstance(ids, list) else "\0".join([*ids, ""])
    if length == 0 or len(joined) != count * (length + 1) or not joined.isascii():
        return None
    rows = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(count, length + 1)
    if rows[:, length].any() or np.count_nonzero(rows) != count * length:
        return None  # unequal lengths, or a NUL inside an id
    return rows, length


def hash_ids(ids: Sequence[str] | StringColumn, key: tuple[int, int]) -> np.ndarray:
    """The keyed hash of every id, as a uint64 array (vectorized, in chunks of the batch)."""
    count = len(ids)
    out = np.empty(count, dtype=np.uint64)
    if count == 0:
        return out
    if isinstance(ids, StringColumn):
        return _hash_column(ids, key, out)
    for start in range(0, count, _CHUNK):  # joining and encoding per chunk beats one 30 MB buffer
        chunk = ids[start : start + _CHUNK]
        same = _same_length_ascii(chunk)
        out[start : start + len(chunk)] = _hash_any(chunk, key) if same is None else _hash_same_length(*same, key)
    return out


def _hash_same_length(rows: np.ndarray, length: int, key: tuple[int, int]) -> np.ndarray:
    """Ids of one length (rows of their bytes): every id has every word, no per-id masking."""
    k0, k1 = key
    if length % 8 == 0 and rows.shape[1] == length and rows.flags.c_contiguous:
        words = rows.view("<u8")  # whole words already: read in place
    else:
        words = np.zeros((len(rows), length + (-length % 8)), dtype=np.uint8)
        words[:, :length] = rows[:, :length]
        words = words.view("<u8")
    h = np.full(len(rows), np.uint64(k0) ^ np.uint64((length * _GOLDEN) & _MASK), dtype=np.uint64)
    spare = np.empty_like(h)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h ^= words[:, j]
            _fmix_array(h, spare)
        h ^= np.uint64(k1)
        return _fmix_array(h, spare)


def _hash_any(ids: Sequence[str], key: tuple[int, int]) -> np.ndarray:
    """Ids of any lengths and characters: words past an id's end leave its hash unchanged."""
    count = len(ids)
    k0, k1 = key
    encoded = [i.encode("utf-8") for i in ids]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint64, count=count)
    width = max(8, int(lengths.max()) + (-int(lengths.max()) % 8))
    raw = np.array(encoded, dtype=f"S{width}")  # numpy pads every id with NUL bytes up to `width`
    words = raw.view("<u8").reshape(count, width // 8)
    with np.errstate(over="ignore"):
        h = np.uint64(k0) ^ (lengths * np.uint64(_GOLDEN))
        n_words = (lengths + np.uint64(7)) // np.uint64(8)
        for j in range(width // 8):
            h = np.where(n_words > j, _fmix_array(h ^ words[:, j]), h)
        return _fmix_array(h ^ np.uint64(k1))


def _hash_column(ids: StringColumn, key: tuple[int, int], out: np.ndarray) -> np.ndarray:
    """Ids in Arrow's layout: their bytes are read in place, with no Python string per id."""
    if ids.valid is not None and not ids.valid.all():
        raise ValueError("an id is missing")
    lengths = ids.lengths()
    length, count, start = int(lengths[0]), len(ids), int(ids.offsets[0])
    if length and int(ids.offsets[-1]) - start == length * count and (lengths == length).all():
        rows = ids.data[start : start + length * count].reshape(count, length)  # a view: no copy
        for first in range(0, count, _CHUNK):
            out[first : first + _CHUNK] = _hash_same_length(rows[first : first + _CHUNK], length, key)
        return out
    for first in range(0, count, _CHUNK):
        out[first : first + _CHUNK] = _hash_any_column(ids[first : first + _CHUNK], key)
    return out


def _hash_any_column(ids: StringColumn, key: tuple[int, int]) -> np.ndarray:
    k0, k1 = key
    lengths = ids.lengths()
    count = (int(lengths.max()) + 7) // 8
    n_words = (lengths + 7) // 8
    with np.errstate(over="ignore"):
        h = np.uint64(k0) ^ (lengths.astype(np.uint64) * np.uint64(_GOLDEN))
        for j, word in enumerate(ids.words(count)):
            h = np.where(n_words > j, _fmix_array(h ^ word), h)
        return _fmix_array(h ^ np.uint64(k1))


__all__ = ["HASH_VERSION", "hash_id", "hash_ids", "hash_key"]
