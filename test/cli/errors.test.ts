import t from 'tap';
import { UserError, reportError } from '../../common/errors.js';

t.test('a UserError is one line and exit 1', async (t) => {
  const lines: string[] = [];
  const code = reportError(new UserError('bad flag -p: "x" is not a port'), (l) => lines.push(l));
  t.equal(code, 1, 'design.md: user errors exit 1');
  t.same(lines, ['tandem: bad flag -p: "x" is not a port']);
});

t.test('anything else is an internal error, exit 2, with the stack', async (t) => {
  const lines: string[] = [];
  t.equal(reportError(new TypeError('boom'), (l) => lines.push(l)), 2, 'design.md: internal errors exit 2');
  t.match(lines[0], /^tandem: internal error: TypeError: boom/);
  t.equal(reportError('plain string', (l) => lines.push(l)), 2);
  t.match(lines[1], /internal error: .*plain string/);
});
