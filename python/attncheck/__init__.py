"""attncheck: property-based verification of attention on packed batches, live.

Point attncheck at your own attention function::

    import attncheck

    @attncheck.implementation(packing="thd", dtypes=("float32", "bfloat16"))
    def my_attention(batch):          # batch: attncheck.Batch (see _bridge.Batch)
        ...
        return out, lse               # out [total_q, Hq, Dv], lse [Hq, total_q]

    @my_attention.backward
    def my_attention_bwd(batch, dout):
        ...
        return dq, dk, dv

    attncheck.fuzz(my_attention, cases=50)   # or: python -m attncheck fuzz MODULE:ATTR

Every property of the native implementations applies by the declared
capabilities; a failure is shrunk, saved as a case file and printed with the
command that replays it (`attncheck fuzz --impl py:MODULE:ATTR --reproduce ...`).
The contract in full: README "Your own kernel, live".
"""
import dataclasses
import importlib
import os
import sys
from typing import Callable, Optional, Tuple

from . import _bridge
from ._bridge import Batch, ContractError, as_float32  # noqa: F401  (public)

__all__ = ["Batch", "Capabilities", "ContractError", "Implementation", "as_float32", "bench",
           "fuzz", "generate", "implementation", "main", "resolve"]

DTYPES = ("float32", "bfloat16", "float16")
PACKINGS = ("thd", "bshd", "position_ids", "eos")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What an implementation supports: the native registry's vocabulary
    (harness/registry.hpp Capabilities). Cases outside it are skipped with the
    reason, never failed."""
    dtypes: Tuple[str, ...] = DTYPES
    max_head_dim: int = 256          # max of D and Dv
    dv_ne_d: bool = True             # value head dim Dv != D
    gqa: bool = True                 # Hq != Hkv
    lq_ne_lk: bool = True            # a document with Lq != Lk
    causal: bool = True
    non_causal: bool = True          # masks without causal (full, two-sided windows, chunks)
    windows: bool = True             # sliding windows
    chunked: bool = True             # chunked attention
    padding: bool = True             # padding rows between / after documents
    needs_position_ids: bool = False  # only cases that carry position ids
    deterministic: bool = True       # bitwise reproducible (P10 and the exact properties)
    # A document's results are bit-identical wherever it sits in the batch and
    # whatever the others hold, and GQA is bit-identical to MHA with repeated kv
    # heads (False: P4, P5, P13 and P14 compare within the calibrated bound).
    batch_invariant: bool = True
    # Sequence parallel over cp ranks (0: single device): P8 applies, and the
    # bound grows with cp as for the native sequence-parallel variants.
    cp: int = 0
    lse: bool = True                 # returns the log-sum-exp
    packing: str = "thd"             # thd | bshd | position_ids | eos
    # Anything else it refuses: batch (no tensors) -> reason string or None.
    refuses: Optional[Callable] = None

    def __post_init__(self):
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        bad = [d for d in self.dtypes if d not in DTYPES]
        if bad or not self.dtypes:
            raise ValueError("Capabilities.dtypes: %s; use a non-empty subset of %s"
                             % (bad or "empty", ", ".join(DTYPES)))
        if self.packing not in PACKINGS:
            raise ValueError("Capabilities.packing: %r; use one of %s"
                             % (self.packing, ", ".join(PACKINGS)))
        if self.cp < 0:
            raise ValueError("Capabilities.cp must be >= 0 (0: single device)")
        if self.max_head_dim < 1:
            raise ValueError("Capabilities.max_head_dim must be >= 1")


class Implementation:
    """A Python attention implementation: forward(batch) -> out[, lse] and,
    optionally, backward(batch, dout) -> (dq, dk, dv)."""

    def __init__(self, forward, *, backward=None, caps=None, name=None, description=None):
        if not callable(forward):
            raise TypeError("Implementation: forward must be callable")
        self.forward = forward
        self.backward_fn = backward
        self.caps = caps or Capabilities()
        self.name = name or getattr(forward, "__name__", "python")
        doc = (getattr(forward, "__doc__", None) or "").strip().splitlines()
        self.description = description or (doc[0] if doc else "Python implementation")

    def __call__(self, batch):
        return self.forward(batch)

    def backward(self, fn):
        """Decorator: registers fn(batch, dout) -> (dq, dk, dv) as the backward."""
        self.backward_fn = fn
        return fn

    def __repr__(self):
        return "attncheck.Implementation(%s, %s, backward=%s)" % (
            self.name, self.caps.packing, self.backward_fn is not None)


def implementation(fn=None, *, name=None, description=None, backward=None, **caps):
    """Decorator declaring a forward function and its capabilities (the
    fields of Capabilities): @attncheck.implementation(packing="bshd")."""
    def wrap(f):
        return Implementation(f, backward=backward, caps=Capabilities(**caps), name=name,
                              description=description)
    return wrap(fn) if fn is not None else wrap


class UsageError(Exception):
    pass


def resolve(spec):
    """The Implementation named by 'py:MODULE:ATTR' or 'MODULE:ATTR' (ATTR may
    be dotted). MODULE is imported from the current directory or PYTHONPATH. A
    plain callable becomes a forward-only Implementation with default
    capabilities."""
    text = spec[3:] if spec.startswith("py:") else spec
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError("--impl %s: expected py:MODULE:ATTR (e.g. py:my_kernels:attention)" % spec)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError("--impl %s: cannot import module %s (%s); run from the directory that "
                         "holds it or add that directory to PYTHONPATH" % (spec, module_name, e))
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError("--impl %s: module %s has no attribute %s" % (spec, module_name, attr))
        obj = getattr(obj, part)
    if isinstance(obj, Implementation):
        return obj
    if callable(obj):
        return Implementation(obj)
    raise UsageError("--impl %s: %s.%s is a %s, not a callable or attncheck.Implementation"
                     % (spec, module_name, attr, type(obj).__name__))


def _native():
    import importlib as _il
    import numpy as _np
    core = _il.import_module("attncheck._core")  # the extension module (bridge.cpp)
    if int(_np.__version__.split(".")[0]) >= 2 and tuple(core.pybind11_version) < (2, 12):
        raise UsageError(
            "attncheck._core in %s was built with pybind11 %d.%d, which does not support numpy "
            "%s; use it with numpy < 2 (Debian's python3-numpy), or `pip install .` into this "
            "environment (it builds with a newer pybind11)"
            % (os.path.dirname(core.__file__), core.pybind11_version[0],
               core.pybind11_version[1], _np.__version__))
    return core


_registered = {}


def _register(name, impl):
    if name in _registered:
        if _registered[name] is not impl:
            raise UsageError("--impl %s: two different implementations under one name" % name)
        return
    _native().register_implementation(name, impl, impl.description)
    _registered[name] = impl


def _impl_values(args):
    """Values given to --impl (comma lists split)."""
    vals = []
    for i, a in enumerate(args):
        if a == "--impl" and i + 1 < len(args):
            vals += args[i + 1].split(",")
        elif a.startswith("--impl="):
            vals += a[len("--impl="):].split(",")
    return [v for v in vals if v]


_FLAGS = {"--no-progress", "--skip-campaign", "-h", "--help"}


def _positional_impls(args):
    """`fuzz MODULE:ATTR` and `bench MODULE:ATTR`: positional specs -> --impl py:..."""
    if not args or args[0] not in ("fuzz", "bench"):
        return args
    out, i = [args[0]], 1
    while i < len(args):
        a = args[i]
        if a.startswith("-"):
            out.append(a)
            if a not in _FLAGS and "=" not in a and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        elif ":" in a:
            out += ["--impl", a if a.startswith("py:") else "py:" + a]
        else:
            out.append(a)
        i += 1
    return out


def _packaged_report_script():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")
    if os.path.exists(here) and "ATTNCHECK_REPORT_SCRIPT" not in os.environ:
        os.environ["ATTNCHECK_REPORT_SCRIPT"] = here


def main(argv=None):  # also the `attncheck` console script of `pip install .`
    """The attncheck CLI (every verb), with py:MODULE:ATTR implementations
    registered: `python -m attncheck fuzz MODULE:ATTR [options]`. Returns the
    exit code (0 passed, 1 a property failed, 2 bad usage or input)."""
    args = _positional_impls(list(sys.argv[1:] if argv is None else argv))
    try:
        core = _native()
        for spec in _impl_values(args):
            if spec.startswith("py:"):
                _register(spec, resolve(spec))
    except (UsageError, ValueError, TypeError) as e:
        print("attncheck: error: %s" % e, file=sys.stderr)
        return 2
    _packaged_report_script()
    sys.stdout.flush()
    sys.stderr.flush()
    return core.main(["attncheck"] + args)


def _spec_of(impl):
    """py:MODULE:ATTR of an Implementation object (its replay name)."""
    for name, obj in _registered.items():
        if obj is impl:
            return name
    fn = impl.forward
    module = getattr(fn, "__module__", None) or "__main__"
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_file:
            module = os.path.splitext(os.path.basename(main_file))[0]
    return "py:%s:%s" % (module, getattr(fn, "__qualname__", impl.name))


def _args(verb, impls, options):
    args = [verb]
    for impl in impls:
        if isinstance(impl, str):
            args += ["--impl", impl]
            continue
        if not isinstance(impl, Implementation):
            impl = Implementation(impl)
        name = _spec_of(impl)
        _register(name, impl)
        args += ["--impl", name]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def fuzz(*impls, property=None, cases=None, seed=None, time=None, max_tokens=None,
         max_head_dim=None, dtypes=None, reproduce=None, save_dir=None, results=None,
         repeat=None, progress=False):
    """Run the fuzz campaign over `impls` (Implementation objects, callables,
    or registry names such as "flash"), exactly as `attncheck fuzz`: prints
    the summary table, saves counterexamples and the results file, and
    returns the exit code (0 passed, 1 a property failed, 2 bad usage)."""
    args = _args("fuzz", impls, dict(property=property, cases=cases, seed=seed, time=time,
                                      max_tokens=max_tokens, max_head_dim=max_head_dim,
                                      dtypes=dtypes, reproduce=reproduce, save_dir=save_dir,
                                      results=results, repeat=repeat))
    if not progress:
        args.append("--no-progress")
    sys.stdout.flush()
    return _native().main(["attncheck"] + args)


def bench(*impls, skip_campaign=True, reps=None):
    """`attncheck bench` over `impls`: cases/s and the bridge's share of the case time."""
    args = _args("bench", impls, dict(skip_campaign=skip_campaign, reps=reps))
    sys.stdout.flush()
    return _native().main(["attncheck"] + args)


def generate(count=10, seed=1, max_tokens=512, max_head_dim=256, dtypes=DTYPES,
             self_attention=False, packing="thd"):
    """Cases of the fuzz generator as Batch objects (with `dout` and a
    `description`), in the given packing; they own their arrays."""
    return [Batch(f) for f in _native().generate(count, seed, max_tokens, max_head_dim,
                                                 list(dtypes), self_attention, packing)]
