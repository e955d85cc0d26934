"""Variable-length windows at the public boundary: lengths, masks, packed sequences.

Windows of different lengths are right-padded to the layers' ``seq_len``;
the valid steps of each row are given by a lengths array, by a mask that
marks them, or by a ``torch.nn.utils.rnn.PackedSequence``. Each becomes a
NumPy integer array ``(batch,)`` with values in ``1..seq_len``.
"""

from __future__ import annotations

import numpy as np


def is_packed_sequence(x) -> bool:
    """True for a ``torch.nn.utils.rnn.PackedSequence`` (without importing torch)."""
    return type(x).__name__ == "PackedSequence" and hasattr(x, "batch_sizes")


def unpack_sequence(packed, seq_len: int, where: str):
    """``(padded, lengths)`` of a ``PackedSequence``: a NumPy ``(batch, seq_len,
    features)`` array in the original batch order, zero-padded, and the lengths."""
    from torch.nn.utils.rnn import pad_packed_sequence

    longest = int(packed.batch_sizes.shape[0])
    if longest > seq_len:
        raise ValueError(f"{where}: the packed sequence holds windows of up to {longest} "
                         f"steps but seq_len is {seq_len}")
    padded, lengths = pad_packed_sequence(packed, batch_first=True, total_length=seq_len)
    return padded.detach().cpu().numpy(), lengths.cpu().numpy().astype(np.int64)


def check_lengths(lengths, mask, batch: int, seq_len: int, where: str):
    """The valid steps of each row as a NumPy ``int64`` array, or ``None``.

    Args:
        lengths: ``(batch,)`` integers in ``1..seq_len``, or None.
        mask: ``(batch, seq_len)`` booleans (or 0/1) that are True on the
            first ``lengths[b]`` steps of row ``b`` and False after, or None.
        batch, seq_len: the input's rows and the layers' steps per window.
        where: who asked, for the messages.
    """
    if lengths is None and mask is None:
        return None
    if lengths is not None and mask is not None:
        raise ValueError(f"{where}: give lengths or mask, not both")
    if mask is not None:
        m = _to_numpy(mask)
        if m.shape != (batch, seq_len):
            raise ValueError(f"{where}: mask must have shape ({batch}, {seq_len}) (batch, "
                             f"seq_len); got {m.shape}")
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{where}: mask must hold booleans or 0/1 values")
        m = m.astype(bool)
        lengths = m.sum(axis=1)
        if not np.array_equal(m, np.arange(seq_len) < lengths[:, None]):
            bad = int(np.nonzero((m != (np.arange(seq_len) < lengths[:, None])).any(1))[0][0])
            raise ValueError(f"{where}: mask must mark the first steps of each row and none "
                             f"after (right padding); row {bad} is {m[bad].astype(int)}")
        name = "mask"
    else:
        lengths = _to_numpy(lengths)
        name = "lengths"
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{where}: lengths must hold integers; got dtype {lengths.dtype}")
        if lengths.shape != (batch,):
            raise ValueError(f"{where}: lengths must have shape ({batch},), one per row; got "
                             f"{lengths.shape}")
    lengths = lengths.astype(np.int64)
    if (lengths <= 0).any():
        row = int(np.argmax(lengths <= 0))
        raise ValueError(f"{where}: {name} gives row {row} no valid step; zero-length "
                         f"sequences are not supported")
    if (lengths > seq_len).any():
        row = int(np.argmax(lengths > seq_len))
        raise ValueError(f"{where}: lengths must be at most seq_len = {seq_len}; row {row} "
                         f"has length {lengths[row]}")
    return lengths


def _to_numpy(x):
    """A NumPy copy of a NumPy, CuPy or torch array, or of a list."""
    if hasattr(x, "get") and type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    if type(x).__module__.split(".")[0] == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)
