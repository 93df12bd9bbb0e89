"""Per-sample gradient norms: ``||d l_i / d theta||_2`` for every sample ``i`` of a batch.

``theta`` is every trainable parameter of a network and ``l_i = loss_fn(model(x), y)[i]`` is
the loss of sample ``i`` alone.  Per-sample gradients are only defined when the forward pass
treats the samples independently: no BatchNorm in training mode (GroupNorm / LayerNorm are
fine).  PRL-G ranks samples by this norm.

Conventions
-----------
* ``loss_fn(output, target) -> (N,)``: per-sample losses (e.g.
  :func:`prl.losses.per_sample_loss`); row ``i`` may depend on sample ``i`` only.
* Every function returns a ``(N,)`` of norms (float32, or float64 for float64 models),
  detached, on the model's device, and leaves ``.grad`` of the parameters untouched.
* "Scratch" is the memory of the per-sample products built on the way, in tensor elements;
  work is cut into chunks of samples so that no chunk exceeds ``budget`` elements.  No engine
  holds ``batch x parameters`` numbers at once (the only exception: a layer too big for one
  sample per chunk is still built for one sample).  The ghost engine also keeps, until the
  update, one gradient per layer output: activation-sized, like the forward's own tensors.

Engines (``method=``)
--------------------
``ghost``      Hooks on the parametrised layers (:class:`GhostNorms`): one ordinary forward,
               one backward for the gradients w.r.t. the layer *outputs* only (no parameter
               gradients), then per layer, exactly:

               * ``Linear`` (2-D input): ``||g_i a_i^T||^2 = ||g_i||^2 ||a_i||^2``; with extra
                 token dimensions whichever is cheaper of the Gram identity
                 ``<G_i G_i^T, A_i A_i^T>`` and the direct product ``G_i^T A_i``.
               * ``Conv1d`` / ``Conv2d`` (zero padding, any stride / dilation / groups): with
                 ``U_i`` the unfolded input (patch x positions, ``P x L``) and ``G_i`` the
                 output gradient (``O x L``), per layer one of (:data:`FORMS`, rule in
                 :func:`_conv_form`): the ghost Gram form ``<G_i^T G_i, U_i^T U_i>``
                 (``L^2*(O+P)`` multiply-adds: few positions), the per-sample gradient
                 ``G_i U_i^T`` from the conv weight-gradient kernel with the batch folded into
                 the groups (``grouped``: narrow layers on CPU), or from im2col and a batched
                 matmul (``direct``, ``L*O*P``).
               * ``GroupNorm`` / ``LayerNorm`` affine parameters: the per-sample gradients are
                 small (``N x C``) and are built: ``sum(xhat * g)`` and ``sum(g)``.
               * biases: ``||sum over positions of g_i||^2``.

               The captured tensors also give the gradient of any weighted sum of the
               per-sample losses (:meth:`GhostNorms.backward`), so a training step needs no
               second backward pass.
``functorch``  ``torch.func``: ``vmap(grad(loss of one sample))`` over chunks of samples with
               ``functional_call``; works for any model whose layers ``torch.func`` supports,
               materialises ``chunk x parameters`` numbers per chunk and runs its own forward.
``naive``      A Python loop of one ``autograd.grad`` per sample: the reference for tests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.graph import get_gradient_edge

__all__ = [
    "METHODS",
    "FORMS",
    "DEFAULT_BUDGET",
    "UnsupportedModel",
    "unsupported_layers",
    "GhostNorms",
    "per_sample_grad_norms",
    "functorch_grad_norms",
    "naive_grad_norms",
    "trainable_parameters",
]

METHODS = ("ghost", "functorch", "naive")
#: how the ghost engine forms conv norms (``auto``: :func:`_conv_form`'s rule) and Linear norms
#: over token dimensions (``gram`` or anything else: direct)
FORMS = ("auto", "direct", "gram", "grouped")
#: default scratch per chunk, in tensor elements (2**24 float32 = 64 MiB)
DEFAULT_BUDGET = 1 << 24
#: im2col chunks are kept to this many elements (8 MiB of float32) even under a larger
#: budget: smaller chunks stay in cache, which is faster on CPU
CHUNK = 1 << 21

LossFn = Callable[[Tensor, Tensor], Tensor]

_LINEAR, _CONV, _GROUPNORM, _LAYERNORM = "linear", "conv", "groupnorm", "layernorm"
#: exact module types with an exact per-sample rule (subclasses may change ``forward``)
_KINDS: dict[type, str] = {
    nn.Linear: _LINEAR,
    nn.Conv1d: _CONV,
    nn.Conv2d: _CONV,
    nn.GroupNorm: _GROUPNORM,
    nn.LayerNorm: _LAYERNORM,
}


class UnsupportedModel(ValueError):
    """The ghost engine cannot compute exact per-sample norms for this model."""


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _own_parameters(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters(recurse=False) if p is not None]


def _conv_padding(module: nn.Module) -> Optional[tuple[int, ...]]:
    """Explicit symmetric zero padding of a conv layer, or None when there is none such."""
    if module.padding_mode != "zeros":
        return None
    pad = module.padding
    if isinstance(pad, str):
        if pad == "valid":
            return (0,) * len(module.kernel_size)
        total = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size)]
        if any(t % 2 for t in total):  # 'same' with an even receptive field pads asymmetrically
            return None
        return tuple(t // 2 for t in total)
    return tuple(pad)


def unsupported_layers(model: nn.Module) -> list[str]:
    """Why the ghost engine cannot handle ``model``: one line per offending module (empty = fine).

    Every module that owns parameters must be an exact ``Linear``, ``Conv1d``, ``Conv2d`` (zero
    padding), ``GroupNorm`` or ``LayerNorm``, and no parameter may be shared between modules.
    """
    problems, owner = [], {}
    for name, module in model.named_modules():
        params = _own_parameters(module)
        if not params:
            continue
        kind = _KINDS.get(type(module))
        label = name or type(module).__name__
        if kind is None:
            problems.append(f"{label} ({type(module).__name__}) has parameters but no exact per-sample rule")
        elif kind == _CONV and _conv_padding(module) is None:
            problems.append(f"{label} ({type(module).__name__}) uses padding={module.padding!r}, "
                            f"padding_mode={module.padding_mode!r} (only symmetric zero padding)")
        for p in params:
            if id(p) in owner:
                problems.append(f"{label} shares a parameter with {owner[id(p)]}")
            owner[id(p)] = label
    return problems


# ----------------------------------------------------------------------------- the ghost engine


@dataclass
class _Record:
    """What one call of a parametrised layer left for the norm computation."""

    module: nn.Module
    kind: str
    input: Tensor  # the layer input, detached (an alias of what autograd saves anyway)
    version: int  # its version counter when captured: an in-place change later is an error
    edge: object  # GradientEdge of the layer output
    out_dtype: torch.dtype  # compute dtype of the layer (bf16 under autocast)
    grad: Optional[Tensor] = None  # d(sum_i l_i) / d(output), same shape as the output
    per_sample: dict = field(default_factory=dict)  # norm layers: param -> (N, *param.shape)


def _sq(t: Tensor, dim) -> Tensor:
    """Squared L2 norm over ``dim`` (``vector_norm`` is one fused pass, faster than pow + sum)."""
    return torch.linalg.vector_norm(t, dim=dim).square()


def _chunk(n: int, per_sample: int, budget: int) -> int:
    return max(1, min(n, budget // max(int(per_sample), 1)))


def _as_2d_conv(module: nn.Module, a: Tensor, g: Tensor):
    """Conv1d tensors and hyper-parameters as those of an equivalent Conv2d (height 1)."""
    padding = _conv_padding(module)
    if isinstance(module, nn.Conv1d):
        return (a.unsqueeze(2), g.unsqueeze(2), (1, module.kernel_size[0]), (1, module.stride[0]),
                (0, padding[0]), (1, module.dilation[0]))
    return a, g, tuple(module.kernel_size), tuple(module.stride), padding, tuple(module.dilation)


def _im2col(a: Tensor, ksize, stride, padding, dilation) -> Tensor:
    """``F.unfold`` (``(n, C*kh*kw, L)``, same order) as one strided copy: faster on CPU."""
    if any(padding):
        a = F.pad(a, (padding[1], padding[1], padding[0], padding[0]))
    n, c, h, w = a.shape
    ho = (h - dilation[0] * (ksize[0] - 1) - 1) // stride[0] + 1
    wo = (w - dilation[1] * (ksize[1] - 1) - 1) // stride[1] + 1
    sn, sc, sh, sw = a.stride()
    view = a.as_strided((n, c, ksize[0], ksize[1], ho, wo),
                        (sn, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw))
    return view.reshape(n, c * ksize[0] * ksize[1], ho * wo)


def _conv_form(form: str, positions: int, out_ch: int, patch: int, groups: int, in_per_group: int = 1,
               device_type: str = "cpu") -> str:
    """The form ``auto`` resolves to (a fixed rule, so a run's numbers never depend on timing):

    * ``gram`` when it needs fewer multiply-adds than building the gradient (direct
      ``L*O*P``, Gram ``groups*L^2*(O/groups + P)``): few output positions, large patches;
    * on CPU, ``grouped`` when the per-group channel product ``C_in/g * O/g`` is between 2 and
      1024: oneDNN's grouped weight-gradient kernel then beats im2col + batched matmul
      (measured on the small CNN and ResNet-32 layers; it loses on wide layers and on one
      input channel);
    * ``direct`` otherwise (and always on CUDA, where the batched matmul is efficient).
    """
    if form != "auto":
        return form
    gram = groups * positions * positions * (out_ch // groups + patch)
    if gram < positions * out_ch * patch:
        return "gram"
    if device_type == "cpu" and 2 <= in_per_group * (out_ch // groups) <= 1024 and in_per_group > 1:
        return "grouped"
    return "direct"


def _conv_sq_norms(rec: _Record, g: Tensor, dtype: torch.dtype, budget: int, form: str = "auto") -> Tensor:
    """Squared per-sample gradient norm of a conv layer's weight and bias, ``(N,)``.

    With ``U_i`` the unfolded input (``P x L``: patch x output positions) and ``G_i`` the output
    gradient (``O x L``), the weight gradient of sample ``i`` is ``G_i U_i^T``.  ``form``:
    ``direct`` builds it (batched matmul, ``L*O*P`` per sample), ``gram`` uses
    ``<G_i^T G_i, U_i^T U_i>`` (``L^2*(O+P)``, better when few positions), ``grouped`` builds it
    with the conv weight-gradient kernel, the batch folded into the groups, and ``auto`` picks
    the cheaper of ``direct`` and ``gram`` by multiply-adds.
    """
    m = rec.module
    a, g, ksize, stride, padding, dilation = _as_2d_conv(m, rec.input, g)
    n, out_ch = g.shape[0], g.shape[1]
    positions = g.shape[2] * g.shape[3]
    groups = m.groups
    cg = a.shape[1] // groups
    patch = cg * ksize[0] * ksize[1]  # P: inputs of one output unit
    og = out_ch // groups
    weight = m.weight.requires_grad
    form = _conv_form(form, positions, out_ch, patch, groups, cg, g.device.type)
    if form == "grouped":  # per-sample gradients only, no im2col buffer
        step = _chunk(n, out_ch * patch + out_ch * positions, budget)
    else:  # im2col + Gram matrices or per-sample gradients, in cache-sized chunks
        per_sample = a.shape[1] * ksize[0] * ksize[1] * positions + out_ch * positions
        per_sample += (2 * groups * positions * positions) if form == "gram" else (out_ch * patch)
        step = _chunk(n, per_sample, min(budget, CHUNK))
    out = torch.zeros(n, dtype=dtype, device=g.device)
    for s in range(0, n, step):
        g4 = g[s:s + step].to(dtype)
        c = g4.shape[0]
        gc = g4.reshape(c, out_ch, positions)
        if weight:
            if form == "grouped":
                a4 = a[s:s + step].to(dtype).reshape(1, c * a.shape[1], *a.shape[2:])
                ps = torch.nn.grad.conv2d_weight(a4, (c * out_ch, cg, *ksize), g4.reshape(1, c * out_ch, *g4.shape[2:]),
                                                 stride, padding, dilation, c * groups)
                out[s:s + c] += _sq(ps.reshape(c, -1), 1)
            else:
                u = _im2col(a[s:s + step].to(dtype), ksize, stride, padding, dilation)
                u = u.reshape(c * groups, patch, positions)
                gg = gc.reshape(c * groups, og, positions)
                if form == "gram":
                    sq = (torch.bmm(gg.transpose(1, 2), gg) * torch.bmm(u.transpose(1, 2), u)).sum(dim=(1, 2))
                else:
                    sq = _sq(torch.bmm(gg, u.transpose(1, 2)), (1, 2))
                out[s:s + c] += sq.reshape(c, groups).sum(dim=1)
        if m.bias is not None and m.bias.requires_grad:
            out[s:s + c] += _sq(gc.sum(dim=2), 1)
    return out


def _linear_sq_norms(rec: _Record, g: Tensor, dtype: torch.dtype, budget: int, form: str = "auto") -> Tensor:
    """Squared per-sample gradient norm of a Linear layer's weight and bias, ``(N,)``
    (``form`` as in :func:`_conv_sq_norms`; it matters only with token dimensions)."""
    m = rec.module
    n, d, o = g.shape[0], rec.input.shape[-1], g.shape[-1]
    weight, bias = m.weight.requires_grad, m.bias is not None and m.bias.requires_grad
    if g.dim() == 2:  # ||g a^T||_F = ||g|| ||a||
        gsq = _sq(g.to(dtype), 1)
        out = torch.zeros(n, dtype=dtype, device=g.device)
        if weight:
            out += gsq * _sq(rec.input.to(dtype), 1)
        if bias:
            out += gsq
        return out
    tokens = g[0].numel() // o
    a3, g3 = rec.input.reshape(n, tokens, d), g.reshape(n, tokens, o)
    ghost = (tokens * tokens * (o + d) < tokens * o * d) if form == "auto" else form == "gram"
    step = _chunk(n, tokens * (o + d) + (2 * tokens * tokens if ghost else o * d), budget)
    out = torch.zeros(n, dtype=dtype, device=g.device)
    for s in range(0, n, step):
        gc, ac = g3[s:s + step].to(dtype), a3[s:s + step].to(dtype)
        c = gc.shape[0]
        if weight:
            if ghost:
                out[s:s + c] += (torch.bmm(gc, gc.transpose(1, 2)) * torch.bmm(ac, ac.transpose(1, 2))).sum(dim=(1, 2))
            else:
                out[s:s + c] += _sq(torch.bmm(gc.transpose(1, 2), ac), (1, 2))
        if bias:
            out[s:s + c] += _sq(gc.sum(dim=1), 1)
    return out


def _norm_layer_per_sample(rec: _Record, g: Tensor, dtype: torch.dtype) -> dict:
    """Per-sample gradients of GroupNorm / LayerNorm affine parameters: param -> ``(N, ...)``."""
    m = rec.module
    x, g = rec.input.to(dtype), g.to(dtype)
    n = x.shape[0]
    if rec.kind == _GROUPNORM:
        xhat = F.group_norm(x, m.num_groups, eps=m.eps)
        shape = (n, x.shape[1], -1)
        reduce_dim = 2
    else:
        dims = tuple(m.normalized_shape)
        xhat = F.layer_norm(x, dims, eps=m.eps)
        shape = (n, -1, *dims)
        reduce_dim = 1
    out = {}
    if m.weight is not None and m.weight.requires_grad:
        out[m.weight] = (xhat * g).reshape(shape).sum(dim=reduce_dim)
    if m.bias is not None and m.bias.requires_grad:
        out[m.bias] = g.reshape(shape).sum(dim=reduce_dim)
    return out


def _accumulate(param: nn.Parameter, grad: Tensor) -> None:
    grad = grad.to(param.dtype).reshape(param.shape)
    if param.grad is None:
        param.grad = grad
    else:
        param.grad.add_(grad)


class GhostNorms:
    """Exact per-sample gradient norms of ``model`` from one forward and one backward pass.

    Usage (one training step)::

        tape = GhostNorms(model)              # once: hooks on the parametrised layers
        with tape.record():
            out = model(x)                    # the ordinary forward, recorded
        losses = per_sample_loss(out, y)      # (N,)
        norms = tape.norms(losses)            # (N,); frees the graph
        opt.zero_grad(set_to_none=True)
        tape.backward(kept, 1 / len(kept))    # .grad of mean(losses[kept]); no second backward
        opt.step()

    :meth:`norms` runs ``autograd.grad(losses.sum(), layer outputs)``: the gradients w.r.t. the
    outputs of every parametrised layer (``g``, one row per sample) and nothing else; with the
    layer inputs ``a`` kept from the forward they give both the per-sample norms and the
    gradient of any weighted sum of per-sample losses.  Raises :class:`UnsupportedModel` at
    construction if a layer has no exact rule (see :func:`unsupported_layers`), and
    ``RuntimeError`` if a layer runs twice in one forward or its input is changed in place.

    Memory: the layer inputs are those autograd keeps anyway; the output gradients add one
    activation-sized tensor per layer until :meth:`backward` / :meth:`clear`; per-sample
    products are chunked to ``budget`` elements.
    """

    def __init__(self, model: nn.Module, budget: int = DEFAULT_BUDGET, form: str = "auto"):
        if form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}; got {form!r}")
        self.form = form
        problems = unsupported_layers(model)
        if problems:
            raise UnsupportedModel("; ".join(problems))
        self.model = model
        self.budget = int(budget)
        self.layers = [m for m in model.modules() if _own_parameters(m)]
        self._records: dict[nn.Module, _Record] = {}
        self._active = False
        self._checked = False
        self._has_grads = False
        # eager under torch.compile: the hook needs real tensors and their autograd edges
        capture = torch.compiler.disable(self._capture)
        self._handles = [m.register_forward_hook(capture) for m in self.layers]

    # ------------------------------------------------------------------ recording
    @contextlib.contextmanager
    def record(self) -> Iterator["GhostNorms"]:
        """Record the forward passes run inside the block (drops any earlier record)."""
        self.clear()
        self._active = True
        try:
            yield self
        finally:
            self._active = False

    def _capture(self, module: nn.Module, args: tuple, output: Tensor) -> None:
        if not self._active or not torch.is_grad_enabled():
            return
        if not isinstance(output, Tensor) or output.grad_fn is None:
            return  # frozen layer on a path without gradients
        if module in self._records:
            raise RuntimeError(f"{type(module).__name__} ran twice in one recorded forward; per-sample norms of "
                               f"reused layers need method='functorch'")
        a = args[0]
        self._records[module] = _Record(module, _KINDS[type(module)], a.detach(), a._version,
                                        get_gradient_edge(output), output.dtype)

    @property
    def ready(self) -> bool:
        """True between :meth:`norms` and :meth:`backward` / :meth:`clear`."""
        return self._has_grads

    def clear(self) -> None:
        """Drop what the last forward recorded."""
        self._records = {}
        self._has_grads = False

    def remove(self) -> None:
        """Remove the hooks (the object is unusable afterwards)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.clear()

    # ------------------------------------------------------------------ norms
    def norms(self, losses: Tensor, retain_graph: bool = False) -> Tensor:
        """Per-sample gradient norms ``(N,)`` for the recorded forward; ``losses`` is ``(N,)``.

        Frees the autograd graph unless ``retain_graph``.
        """
        if not self._records:
            raise RuntimeError("GhostNorms.norms: nothing recorded; run the forward inside tape.record() "
                               "(on the module itself: torch.compile'd code may skip the hooks)")
        total = losses.sum()
        if not self._checked:
            self._check_coverage(total)
        records = list(self._records.values())
        grads = torch.autograd.grad(total, [r.edge for r in records], retain_graph=retain_graph, allow_unused=True)
        dtype = torch.promote_types(losses.dtype, torch.float32)
        sq = torch.zeros(losses.shape[0], dtype=dtype, device=losses.device)
        for rec, g in zip(records, grads):
            if rec.input._version != rec.version:
                raise RuntimeError(f"the input of {type(rec.module).__name__} was modified in place after the "
                                   f"forward; per-sample norms need it unchanged")
            rec.grad = g
            if g is None:
                continue
            if rec.kind == _LINEAR:
                sq += _linear_sq_norms(rec, g, dtype, self.budget, self.form)
            elif rec.kind == _CONV:
                sq += _conv_sq_norms(rec, g, dtype, self.budget, self.form)
            else:
                rec.per_sample = _norm_layer_per_sample(rec, g, dtype)
                for ps in rec.per_sample.values():
                    sq += _sq(ps.reshape(ps.shape[0], -1), 1)
        self._has_grads = True
        return sq.sqrt()

    def _check_coverage(self, total: Tensor) -> None:
        """Once: trainable parameters of layers that did not run must not get gradients some other
        way (e.g. ``F.linear(x, self.fc.weight)``), or their per-sample part would be missed."""
        missing = [p for m in self.layers if m not in self._records for p in _own_parameters(m) if p.requires_grad]
        if missing and total.requires_grad:
            grads = torch.autograd.grad(total, missing, retain_graph=True, allow_unused=True)
            if any(g is not None for g in grads):
                raise UnsupportedModel("some parameters are used outside their module's forward call; "
                                       "use method='functorch'")
        self._checked = True

    # ------------------------------------------------------------------ update
    def backward(self, index: Optional[Tensor] = None, scale: float = 1.0) -> None:
        """Accumulate into ``.grad`` the gradient of ``scale * sum(losses[index])`` (all samples if
        ``index`` is None), from the tensors captured by :meth:`norms`; then :meth:`clear`.

        Equals ``(scale * losses[index].sum()).backward()`` on the recorded graph.  Weight
        gradients use the layers' own backward kernels on the selected rows only.
        """
        if not self._has_grads:
            raise RuntimeError("GhostNorms.backward needs norms() first")
        for rec in self._records.values():
            g = rec.grad
            if g is None:
                continue
            m = rec.module
            if rec.kind in (_GROUPNORM, _LAYERNORM):
                for p, ps in rec.per_sample.items():
                    ps = ps if index is None else ps.index_select(0, index)
                    _accumulate(p, ps.sum(dim=0).mul_(scale))
                continue
            a = rec.input if index is None else rec.input.index_select(0, index)
            g = g if index is None else g.index_select(0, index)
            a = a.to(rec.out_dtype)
            g = g.to(rec.out_dtype)
            if rec.kind == _LINEAR:
                a2, g2 = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
                if m.weight.requires_grad:
                    _accumulate(m.weight, (g2.t() @ a2).mul_(scale))
                if m.bias is not None and m.bias.requires_grad:
                    _accumulate(m.bias, g2.sum(dim=0).mul_(scale))
            else:
                a4, g4, ksize, stride, padding, dilation = _as_2d_conv(m, a, g)
                if m.weight.requires_grad:
                    w_shape = (m.weight.shape[0], m.weight.shape[1], *ksize)
                    gw = torch.nn.grad.conv2d_weight(a4, w_shape, g4, stride, padding, dilation, m.groups)
                    _accumulate(m.weight, gw.mul_(scale))
                if m.bias is not None and m.bias.requires_grad:
                    _accumulate(m.bias, g4.sum(dim=(0, 2, 3)).mul_(scale))
        self.clear()


# ----------------------------------------------------------------------------- other engines


def functorch_grad_norms(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, chunk_size: Optional[int] = None,
                         budget: int = DEFAULT_BUDGET, randomness: str = "different") -> Tensor:
    """Per-sample gradient norms with ``torch.func``: ``vmap(grad(l_i))`` over chunks of samples.

    ``chunk_size`` samples per vmap call (default: ``budget // parameters``, at least 1), so the
    materialised per-sample gradients never exceed ``chunk_size x parameters`` elements.  Runs
    its own forward in the model's current mode; with dropout the masks differ from any other
    forward (``randomness`` is passed to ``vmap``).
    """
    base = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    named = [(n, p) for n, p in base.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    values = tuple(p.detach() for _, p in named)
    frozen = {n: p.detach() for n, p in base.named_parameters() if not p.requires_grad}
    buffers = dict(base.named_buffers())
    count = sum(v.numel() for v in values)
    n = x.shape[0]
    step = int(chunk_size) if chunk_size else _chunk(n, count, budget)

    def one(params: tuple, xi: Tensor, yi: Tensor) -> Tensor:
        state = {**dict(zip(names, params)), **frozen, **buffers}
        out = torch.func.functional_call(base, state, (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0)).sum()

    per_sample = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0), randomness=randomness)
    dtype = torch.promote_types(values[0].dtype if values else torch.float32, torch.float32)
    out = []
    for s in range(0, n, step):
        grads = per_sample(values, x[s:s + step], y[s:s + step])
        sq = torch.zeros(grads[0].shape[0], dtype=dtype, device=x.device)
        for gr in grads:
            sq += _sq(gr.reshape(gr.shape[0], -1).to(dtype), 1)
        out.append(sq)
    return torch.cat(out).sqrt()


def naive_grad_norms(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
    """Reference: one forward and ``autograd.grad`` per sample (a Python loop; tests only)."""
    params = trainable_parameters(model)
    out = []
    for i in range(x.shape[0]):
        loss = loss_fn(model(x[i:i + 1]), y[i:i + 1]).sum()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        out.append(sum(g.pow(2).sum() for g in grads if g is not None))
    return torch.stack(out).detach().sqrt()


def per_sample_grad_norms(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, method: str = "ghost",
                          chunk_size: Optional[int] = None, budget: int = DEFAULT_BUDGET, form: str = "auto") -> Tensor:
    """``(N,)``: ``||grad_theta loss_fn(model(x), y)[i]||_2`` for each sample ``i``.

    ``method`` is one of :data:`METHODS` (see the module docstring); ``chunk_size`` applies to
    ``functorch``, ``form`` (see :data:`FORMS`) to ``ghost``.  The model runs in its current
    mode; ``.grad`` is left untouched.
    """
    if method == "ghost":
        tape = GhostNorms(model, budget, form)
        try:
            with tape.record():
                out = model(x)
            return tape.norms(loss_fn(out, y))
        finally:
            tape.remove()
    if method == "functorch":
        return functorch_grad_norms(model, loss_fn, x, y, chunk_size=chunk_size, budget=budget)
    if method == "naive":
        return naive_grad_norms(model, loss_fn, x, y)
    raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
