"""Building and running an exported model's C: with the host's C compiler, and for an Arm
Cortex-M under QEMU (bare metal: ``targets/cortex_m.c`` and ``targets/mps2.ld``, output through
semihosting, instructions counted by SysTick under ``-icount shift=0``).

A *harness* is a C program around one export: it runs every sequence of a batch of input codes
and prints, per sequence, its logits (``L ...``), for a delta model the units propagated per
source (``P ...``), and the ticks the run took (``T n``; 40 instructions each under QEMU, 0 on the host); then the
size of the state struct (``S n``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from jaxgru.deploy.c_source import c_sources

HOST_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
ARM_GCC, QEMU = "arm-none-eabi-gcc", "qemu-system-arm"
# The Cortex-M4 build: thumb code, soft float (the integer path has none), bare metal.
ARM_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-std=c99", "-O2", "-ffreestanding",
             "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror")
BOARDS = {"cortex-m4": ("mps2-an386", "cortex-m4"), "cortex-m3": ("mps2-an385", "cortex-m3")}
RUN_TIMEOUT_S = 120
# Under -icount shift=0 one instruction is 1 ns of virtual time and the MPS2 boards' SysTick runs
# at 25 MHz: one tick is 40 instructions (a 2-instruction loop run 10^6 times reads 50,000 ticks).
INSTRUCTIONS_PER_TICK = 40


@dataclass(frozen=True)
class Outputs:
    """What a harness printed: ``logits int64[B, C]``, ``propagated int64[B, n_delta]`` (delta
    models; else ``None``), ``ticks int64[B]`` per sequence, and ``state_bytes``, the size of the
    model's state struct on that target."""

    logits: np.ndarray
    propagated: np.ndarray | None
    ticks: np.ndarray
    state_bytes: int


def _target(name: str) -> Path:
    return Path(str(resources.files("jaxgru.deploy").joinpath("targets", name)))


# The harnesses' printing: jx_print(v) writes " v" through jx_puts (no C library on bare metal).
PRINT_C = """static void jx_print(int64_t v)
{
    char text[24];
    int32_t n = 23;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    text[n] = 0;
    do {
        text[--n] = (char)('0' + (int32_t)(u % 10u));
        u /= 10u;
    } while (u);
    if (v < 0)
        text[--n] = '-';
    text[--n] = ' ';
    jx_puts(text + n);
}
"""


def harness_source(name: str, codes: np.ndarray, lengths: np.ndarray, n_classes: int, delta: bool) -> str:
    """A C program running model ``name`` on ``codes int[B, T, I]`` (each sequence for its length)."""
    b, t, i = codes.shape
    flat = ", ".join(str(int(v)) for v in np.asarray(codes).reshape(-1))
    lens = ", ".join(str(int(v)) for v in lengths)
    counts = f"""
        jx_puts("P");
        for (c = 0; c < {name.upper()}_DELTA_SOURCES; ++c)
            jx_print(state.propagated[c]);
        jx_puts("\\n");""" if delta else ""
    return f"""#include <stdint.h>
#include "{name}.h"

void jx_puts(const char *s);
uint64_t jx_ticks(void);

static const {name}_code inputs[{b * t * i}] = {{{flat}}};
static const int32_t lengths[{b}] = {{{lens}}};
static {name}_state state;

{PRINT_C}
int main(void)
{{
    {name}_acc logits[{n_classes}];
    int32_t s, c;
    for (s = 0; s < {b}; ++s) {{
        uint64_t start = jx_ticks(), stop;
        {name}_run(&state, inputs + s * {t * i}, lengths[s], logits);
        stop = jx_ticks();
        jx_puts("L");
        for (c = 0; c < {n_classes}; ++c)
            jx_print(logits[c]);
        jx_puts("\\n");{counts}
        jx_puts("T");
        jx_print((int64_t)(stop - start));
        jx_puts("\\n");
    }}
    jx_puts("S");
    jx_print((int64_t)sizeof state);
    jx_puts("\\n");
    return 0;
}}
"""


def parse_outputs(text: str) -> Outputs:
    rows: dict[str, list[list[int]]] = {"L": [], "P": [], "T": [], "S": []}
    for line in text.splitlines():
        if line[:1] in rows:
            rows[line[0]].append([int(v) for v in line[1:].split()])
    if not rows["L"]:
        raise RuntimeError(f"the harness printed no logits:\n{text[-2000:]}")
    return Outputs(np.array(rows["L"], np.int64), np.array(rows["P"], np.int64) if rows["P"] else None,
                   np.array([r[0] for r in rows["T"]], np.int64), rows["S"][0][0] if rows["S"] else 0)


def write_harness(directory: str | os.PathLike, arrays, codes, lengths=None, name: str = "model",
                  packed: bool = True) -> list[Path]:
    """Writes the model's C and a harness over ``codes int[B, T, I]`` into ``directory``;
    returns the C files to compile."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(codes)
    lengths = np.full(codes.shape[0], codes.shape[1]) if lengths is None else np.asarray(lengths)
    for fname, text in c_sources(arrays, name, packed=packed).items():
        (directory / fname).write_text(text)
    delta = "thresholds" in arrays
    (directory / "harness.c").write_text(harness_source(name, codes, lengths, np.asarray(arrays["bd"]).size, delta))
    return [directory / f"{name}.c", directory / "harness.c"]


def _run(cmd: list[str], what: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Standard output and error of ``cmd`` together (QEMU writes semihosting output to stderr)."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {' '.join(map(str, cmd))}\n{done.stdout[-3000:]}"
                           f"{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def host_compiler() -> str | None:
    """The host's C compiler (``$CC``, ``cc`` or ``gcc``), or ``None``."""
    for cc in (os.environ.get("CC"), "cc", "gcc"):
        if cc and shutil.which(cc):
            return cc
    return None


def host_sanitizers(flags: tuple[str, ...] = ("-fsanitize=undefined,address",)) -> str | None:
    """``None`` when the host compiler builds and runs a program with ``flags``, else why not."""
    cc = host_compiler()
    if cc is None:
        return "no host C compiler (apt-get install gcc)"
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text("int main(void) { return 0; }\n")
        try:
            _run([cc, *flags, str(src), "-o", str(exe)], "compiling")
            _run([str(exe)], "running")
        except RuntimeError as err:
            return f"the host compiler cannot build with {' '.join(flags)}: {str(err).splitlines()[-1][:200]}"
    return None


def run_on_host(sources: list[Path], flags: tuple[str, ...] = ("-O2",)) -> Outputs:
    """Compiles ``sources`` and the host target with :data:`HOST_FLAGS` and ``flags``, runs it."""
    cc = host_compiler()
    if cc is None:
        raise RuntimeError("no C compiler on this machine: install gcc (apt-get install gcc) or set CC.")
    exe = sources[0].parent / ("host" + "".join(f.replace("=", "_").replace("-", "_") for f in flags))
    _run([cc, *HOST_FLAGS, *flags, *map(str, sources), str(_target("host.c")), "-o", str(exe)], "compiling")
    return parse_outputs(_run([str(exe)], "running"))


def _arm_flags(cpu: str) -> list[str]:
    """:data:`ARM_FLAGS` for ``cpu``."""
    return [f"-mcpu={cpu}" if f.startswith("-mcpu=") else f for f in ARM_FLAGS]


def cortex_m_toolchain() -> str | None:
    """``None`` when the Arm toolchain and QEMU are here, else what is missing (one line)."""
    missing = [tool for tool in (ARM_GCC, "arm-none-eabi-size", QEMU) if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not found; install them with apt-get install gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi qemu-system-arm")
    return None


def build_cortex_m(sources: list[Path], cpu: str = "cortex-m4", flags: tuple[str, ...] = ()) -> Path:
    """Links ``sources`` with the bare-metal start-up for ``cpu``; returns the ELF file."""
    problem = cortex_m_toolchain()
    if problem:
        raise RuntimeError(problem)
    arch = _arm_flags(cpu)
    elf = sources[0].parent / f"{cpu}.elf"
    _run([ARM_GCC, *arch, *flags, *map(str, sources), str(_target("cortex_m.c")), "-nostdlib",
          "-T", str(_target("mps2.ld")), "-Wl,--gc-sections", "-o", str(elf), "-lgcc"], "cross-compiling")
    return elf


def footprint(model_source: Path, cpu: str = "cortex-m4") -> dict[str, int]:
    """The model alone, compiled for ``cpu`` as the Cortex-M build compiles it: ``flash`` (code and
    constants: ``text + data``) and ``ram`` (its zero-initialized and initialized data; the
    model's state lives in the caller's struct, ``<name>_state``, counted apart by ``state``)."""
    problem = cortex_m_toolchain()
    if problem:
        raise RuntimeError(problem)
    arch = _arm_flags(cpu)
    obj = model_source.with_suffix(f".{cpu}.o")
    _run([ARM_GCC, *arch, "-c", str(model_source), "-o", str(obj)], "cross-compiling")
    sizes = section_sizes(obj)
    return {"flash": sizes["text"] + sizes["data"], "ram": sizes["data"] + sizes["bss"]}


def qemu_text(elf: Path, cpu: str = "cortex-m4") -> str:
    """What ``elf`` prints on QEMU's MPS2 board for ``cpu``, one tick per instruction (``-icount shift=0``)."""
    board, core = BOARDS[cpu]
    return _run([QEMU, "-M", board, "-cpu", core, "-nographic", "-monitor", "none", "-serial", "none",
                 "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off",
                 "-kernel", str(elf)], "QEMU")


def run_on_qemu(elf: Path, cpu: str = "cortex-m4") -> Outputs:
    """Runs a harness's ``elf`` on QEMU (:func:`qemu_text`) and reads what it printed."""
    return parse_outputs(qemu_text(elf, cpu))


def section_sizes(elf: Path) -> dict[str, int]:
    """``text``, ``data`` and ``bss`` bytes of ``elf`` (``arm-none-eabi-size``)."""
    out = _run(["arm-none-eabi-size", str(elf)], "arm-none-eabi-size").splitlines()
    text, data, bss = (int(v) for v in out[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}
