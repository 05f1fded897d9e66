import { describe, expect, it } from 'vitest';
import { describeFailure, describeFsError } from '../../src/cli/failure.js';
import { InputError, UsageError, WitError } from '../../src/util/errors.js';

function fsError(code: string, syscall: string, path: string, dest?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, ...(dest ? { dest } : {}) });
}

describe('describeFailure', () => {
  it('names the running command in place of the stage that raised the error', () => {
    const f = describeFailure('eval', new UsageError('train', 'not a model directory', { file: '/m' }));
    expect(f).toMatchObject({ line: 'wit eval: /m: not a model directory', exitCode: 2 });
    expect(describeFailure('crawl', new InputError('crawl', 'x.warc', 'bad')).line).toBe('wit crawl: x.warc: bad');
    expect(describeFailure('model import', new WitError('model', 'boom')).line).toBe('wit model import: boom');
  });

  it('wit demo keeps the stage that failed, after its own name', () => {
    expect(describeFailure('demo', new WitError('train', 'boom')).line).toBe('wit demo: train: boom');
    expect(describeFailure('demo', new WitError('demo', 'boom')).line).toBe('wit demo: boom');
  });

  it('turns file-system errors into one sentence with the path and an exit code', () => {
    expect(describeFailure('crawl', fsError('ENOTDIR', 'mkdir', '/a/file/out'))).toMatchObject({
      line: 'wit crawl: cannot create the folder /a/file/out: a part of the path is a file, not a folder', exitCode: 2,
    });
    expect(describeFailure('eval', fsError('EACCES', 'open', '/ro/.eval.json.tmp-12-abc'))).toMatchObject({
      line: 'wit eval: cannot open /ro/eval.json: permission denied', exitCode: 2,
    });
    expect(describeFailure('train', fsError('ENOSPC', 'write', '/full/model.weights.bin')).exitCode).toBe(1);
    expect(describeFailure('train', fsError('EROFS', 'rename', '/ro/x.tmp-1', '/ro/x')).line).toBe('wit train: cannot rename /ro/x to /ro/x: read-only file system');
    // wrapped in another error's cause
    expect(describeFailure('filter', new Error('failed', { cause: fsError('EACCES', 'mkdir', '/ro/out') })).line).toBe('wit filter: cannot create the folder /ro/out: permission denied');
  });

  it('anything else is one line, exit 1, the stack kept for WIT_DEBUG', () => {
    const f = describeFailure('report', new TypeError('x is not a function\n  more detail'));
    expect(f.line).toBe('wit report: x is not a function more detail');
    expect(f.exitCode).toBe(1);
    expect(f.stack).toMatch(/TypeError/);
    expect(describeFsError(new Error('plain'))).toBeUndefined();
  });
});
