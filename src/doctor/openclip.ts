/**
 * The real open_clip, which wit never needs: a Python virtual environment that only tests (and users
 * moving models between wit and open_clip) use. One description for `wit doctor`, the README
 * ("Requirements") and the tests (test/helpers/openclip.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where the tests and `wit doctor` look when WIT_OPENCLIP_PYTHON is not set. */
export const DEFAULT_OPENCLIP_PYTHON = '/work/venv-openclip/bin/python';

/**
 * How to make the venv: torch's CPU build and a torchvision from the same index (a CUDA torchvision
 * from another mirror next to a CPU torch fails to import its C ops), then open_clip 3.3 with what its
 * tokenizer (ftfy, regex) and its trainer (open_clip_train: webdataset, braceexpand, pandas) import.
 */
export const OPENCLIP_VENV_INSTALL =
  "python3 -m venv ~/venv-openclip && ~/venv-openclip/bin/pip install --index-url https://download.pytorch.org/whl/cpu 'torch==2.13.*' 'torchvision==0.28.*' && ~/venv-openclip/bin/pip install open_clip_torch==3.3.0 timm webdataset braceexpand pandas && export WIT_OPENCLIP_PYTHON=~/venv-openclip/bin/python";

/** The modules the open_clip tests import (open_clip_train's WebDataset loader included). */
export const OPENCLIP_MODULES = ['torch', 'torchvision', 'open_clip', 'open_clip_train', 'webdataset', 'braceexpand', 'pandas', 'ftfy', 'regex'] as const;

/** The python to probe: `python`, else $WIT_OPENCLIP_PYTHON, else DEFAULT_OPENCLIP_PYTHON. */
export function openClipPythonPath(python?: string): string {
  return python || process.env['WIT_OPENCLIP_PYTHON'] || DEFAULT_OPENCLIP_PYTHON;
}

/** What a python has of OPENCLIP_MODULES: the version of open_clip, or what it lacks (never throws). */
export function probeOpenClip(python: string): { present: boolean; version: string | null; missing: string[]; error: string | null } {
  if (!existsSync(python)) return { present: false, version: null, missing: [...OPENCLIP_MODULES], error: `${python} does not exist` };
  const script = [
    'import importlib.util, json, sys',
    `mods = ${JSON.stringify(OPENCLIP_MODULES)}`,
    'missing = [m for m in mods if importlib.util.find_spec(m) is None]',
    'v = None',
    'if not missing:',
    '    from importlib.metadata import version',
    '    v = version("open_clip_torch")',
    'print(json.dumps({"missing": missing, "version": v}))',
  ].join('\n');
  const r = spawnSync(python, ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { present: false, version: null, missing: [...OPENCLIP_MODULES], error: `${python} failed: ${(r.stderr || String(r.error ?? r.signal)).trim().split('\n').pop()}` };
  try {
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { missing: string[]; version: string | null };
    return { present: j.missing.length === 0, version: j.version, missing: j.missing, error: null };
  } catch {
    return { present: false, version: null, missing: [...OPENCLIP_MODULES], error: `${python} printed no answer` };
  }
}
