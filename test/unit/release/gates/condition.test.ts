/** The condition language of metric and http gates: values, operators, errors, static checks. */
import { describe, expect, it } from 'vitest';
import {
  checkCondition,
  ConditionError,
  evaluateCondition,
  evaluateExpression,
  explainCondition,
  formatValue,
  parseCondition,
} from '../../../../dsl/condition.js';

const ev = (expr: string, env: Record<string, unknown> = {}) => evaluateCondition(expr, env);
const err = (expr: string, env: Record<string, unknown> = {}): ConditionError => {
  try {
    evaluateCondition(expr, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConditionError);
    return e as ConditionError;
  }
  throw new Error(`expected ${JSON.stringify(expr)} to fail`);
};

describe('values and operators', () => {
  it.each([
    ['result < 0.01', { result: 0.005 }, true],
    ['result < 0.01', { result: 0.01 }, false],
    ['result <= 0.01', { result: 0.01 }, true],
    ['result > 5', { result: 5 }, false],
    ['result >= 5', { result: 5 }, true],
    ['result == 3', { result: 3 }, true],
    ['result != 3', { result: 3 }, false],
    ['result < 1e-2', { result: 0.005 }, true],
    ['result < .5', { result: 0.25 }, true],
    ['result > -1', { result: 0 }, true],
    ['result * 100 < 5', { result: 0.04 }, true],
    ['result - 1 + 2 * 3 / 2 % 2 == 1', { result: 1 }, true],
    ['(result + 1) * 2 == 4', { result: 1 }, true],
    ['result + 1 * 2 == 3', { result: 1 }, true],
  ])('%s with %j is %s', (expr, env, want) => {
    expect(ev(expr, env)).toBe(want);
  });

  it('compares strings and booleans', () => {
    expect(ev('body.status == "ok"', { body: { status: 'ok' } })).toBe(true);
    expect(ev("body.status == 'ok'", { body: { status: 'degraded' } })).toBe(false);
    expect(ev('body.ready == true', { body: { ready: true } })).toBe(true);
    expect(ev('body.ready', { body: { ready: true } })).toBe(true);
    expect(ev('body.version >= "1.10"', { body: { version: '1.9' } })).toBe(true); // string order
    expect(ev('body.x == null', { body: { x: null } })).toBe(true);
  });

  it('decodes string escapes', () => {
    expect(ev('body == "a\\"b\\\\c\\n\\u0041"', { body: 'a"b\\c\nA' })).toBe(true);
    expect(ev("body == 'it\\'s'", { body: "it's" })).toBe(true);
  });

  it('compares lists and objects by value', () => {
    expect(ev('body.tags == body.copy', { body: { tags: ['a', { b: 1 }], copy: ['a', { b: 1 }] } })).toBe(true);
    expect(ev('body.a != body.b', { body: { a: { x: 1 }, b: { x: 2 } } })).toBe(true);
    expect(ev('body.a == body.b', { body: { a: [1], b: { 0: 1 } } })).toBe(false);
  });

  it('treats NaN like IEEE: every comparison false, != true', () => {
    expect(ev('result < 1', { result: NaN })).toBe(false);
    expect(ev('result >= 1', { result: NaN })).toBe(false);
    expect(ev('result == result', { result: NaN })).toBe(false);
    expect(ev('result != 1', { result: NaN })).toBe(true);
  });

  it('compares infinities as numbers', () => {
    expect(ev('result > 1e308', { result: Infinity })).toBe(true);
    expect(ev('result < 0.01', { result: Infinity })).toBe(false);
    expect(ev('result < 0', { result: -Infinity })).toBe(true);
  });
});

describe('logic', () => {
  it('&&, ||, ! and their word forms', () => {
    expect(ev('result > 0 && result < 1', { result: 0.5 })).toBe(true);
    expect(ev('result > 0 and result < 1', { result: 2 })).toBe(false);
    expect(ev('result < 0 || result > 1', { result: 2 })).toBe(true);
    expect(ev('result < 0 or result > 1', { result: 0.5 })).toBe(false);
    expect(ev('!(result < 1)', { result: 2 })).toBe(true);
    expect(ev('not isNaN(result)', { result: 1 })).toBe(true);
    expect(ev('!!true')).toBe(true);
  });

  it('&& binds tighter than ||', () => {
    expect(ev('true || false && false')).toBe(true);
    expect(ev('(true || false) && false')).toBe(false);
  });

  it('short-circuits, so a guard protects a lookup', () => {
    expect(ev('len(results) > 0 && results[0] < 1', { results: [] })).toBe(false);
    expect(ev('len(results) == 0 || results[0] < 1', { results: [] })).toBe(true);
    expect(ev('body.ok || body.missing', { body: { ok: true } })).toBe(true);
  });

  it('needs booleans for && || ! and as the result', () => {
    expect(err('result && true', { result: 1 }).message).toBe('"&&" needs true or false, but result is a number (1)');
    expect(err('!result', { result: 'x' }).message).toBe('"!" needs true or false, but result is a string ("x")');
    expect(err('result', { result: 0.3 }).message).toBe('the condition must be true or false, but it is a number (0.3)');
    expect(err('body', { body: { a: 1 } }).message).toBe('the condition must be true or false, but it is an object ({"a":1})');
  });
});

describe('member access and indexing', () => {
  const body = { status: 'ok', 'a-b': 2, data: { items: [{ name: 'x' }, { name: 'y' }], nothing: null }, n: 3 };

  it('reads fields, nested fields, quoted keys and list elements', () => {
    expect(ev('body.data.items[1].name == "y"', { body })).toBe(true);
    expect(ev('body["a-b"] == 2', { body })).toBe(true);
    expect(ev('body["data"]["items"][0]["name"] == "x"', { body })).toBe(true);
    expect(ev('results[body.n - 2] == 20', { body, results: [10, 20] })).toBe(true);
    expect(ev('result[0] > 1', { result: [2] })).toBe(true); // a list-valued identifier indexes too
  });

  it('says which field is missing and what is there', () => {
    expect(err('body.state == "ok"', { body }).message).toBe('body has no field "state" (it has status, "a-b", data, n)');
    expect(err('body.data.count > 1', { body }).message).toBe('body.data has no field "count" (it has items, nothing)');
    expect(err('body["x y"] == 1', { body: {} }).message).toBe('body has no field "x y" (it is empty)');
  });

  it('says when a value has no fields or cannot be indexed', () => {
    expect(err('body.data.nothing.x == 1', { body }).message).toBe('body.data.nothing is null (null), it has no field "x"');
    expect(err('body.status.x == 1', { body }).message).toBe('body.status is a string ("ok"), it has no field "x"');
    expect(err('body.n[0] == 1', { body }).message).toBe('body.n is a number (3) and cannot be indexed');
    expect(err('body.data.items[2].name == "z"', { body }).message).toBe('body.data.items[2]: index 2 is out of range (body.data.items has 2 elements)');
    expect(err('body.data.items[-1] == 1', { body }).message).toBe('body.data.items[-1]: index -1 is out of range (body.data.items has 2 elements)');
    expect(err('body.data.items[0.5] == 1', { body }).message).toBe('a list is indexed by a whole number, but 0.5 is 0.5');
    expect(err('body[1] == 1', { body }).message).toBe('an object is indexed by a string, but 1 is 1');
  });

  it('hints that result is already the first value for Argo-style result[0]', () => {
    expect(err('result[0] < 0.01', { result: 0.001, results: [0.001] }).message).toBe(
      "result is a number (0.001) and cannot be indexed: result is the first sample's value already (all values are in results, e.g. results[0])",
    );
  });

  it('reads own JSON fields only: no prototype, constructor or methods', () => {
    expect(err('body.constructor == 1', { body: {} }).message).toBe('body has no field "constructor" (it is empty)');
    expect(err('body.__proto__ == 1', { body: {} }).message).toBe('body has no field "__proto__" (it is empty)');
    expect(err('body["toString"] == 1', { body: { a: 1 } }).message).toBe('body has no field "toString" (it has a)');
    expect(err('body.length == 2', { body: [1, 2] }).message).toBe('body is a list ([1,2]), it has no field "length"');
    expect(ev('body.__proto__ == 1', { body: JSON.parse('{"__proto__": 1}') })).toBe(true); // an own key from JSON is fine
  });

  it('names an unknown identifier and the available ones', () => {
    expect(err('reslt < 1', { result: 1, results: [1] }).message).toBe('unknown name "reslt" (available: result, results)');
  });
});

describe('functions', () => {
  it('len of strings, lists and objects', () => {
    expect(ev('len(body.s) == 3 && len(body.l) == 2 && len(body.o) == 1', { body: { s: 'abc', l: [1, 2], o: { a: 1 } } })).toBe(true);
    expect(err('len(result) > 0', { result: 1 }).message).toBe('len() needs a string, a list or an object, but result is a number (1)');
  });

  it('isNaN, isInf, abs', () => {
    expect(ev('isNaN(result)', { result: NaN })).toBe(true);
    expect(ev('isNaN(result)', { result: 1 })).toBe(false);
    expect(ev('isInf(result) && isInf(-result)', { result: Infinity })).toBe(true);
    expect(ev('abs(result) < 0.1', { result: -0.05 })).toBe(true);
    expect(err('isNaN(body)', { body: 'NaN' }).message).toBe('isNaN() needs a number, but body is a string ("NaN")');
  });

  it('min and max of a list or of arguments', () => {
    expect(ev('max(results) < 0.5 && min(results) > 0.1', { results: [0.2, 0.4, 0.3] })).toBe(true);
    expect(ev('max(result, 2) == 2 && min(1, 2, 3) == 1', { result: 1 })).toBe(true);
    expect(evaluateExpression('max(results)', { results: [1, NaN] })).toBeNaN();
    expect(err('max(results) < 1', { results: [] }).message).toBe('max() of an empty list (results)');
    expect(err('min(results) < 1', { results: [1, 'a'] }).message).toBe('min() needs numbers, got a string ("a")');
    expect(err('min(result) < 1', { result: 1 }).message).toBe('min() of one argument needs a list, but result is a number (1)');
  });

  it('type errors in comparisons and arithmetic name both sides', () => {
    expect(err('body.n < "5"', { body: { n: 3 } }).message).toBe('"<" compares two numbers (or two strings), but body.n is a number (3) and "5" is a string ("5")');
    expect(err('body.s * 2 > 1', { body: { s: 'x' } }).message).toBe('"*" needs a number, but body.s is a string ("x")');
    expect(err('-body.s < 1', { body: { s: 'x' } }).message).toBe('unary "-" needs a number, but body.s is a string ("x")');
  });
});

describe('syntax errors say where and what was expected', () => {
  it.each([
    ['', 'the condition is empty'],
    ['   ', 'the condition is empty'],
    ['result <', 'expected a value (a number, a string, a name or "("), found the end of the condition at column 9'],
    ['result < < 1', 'expected a value (a number, a string, a name or "("), found "<" at column 10'],
    ['(result < 1', 'expected ")" to close "(", found the end of the condition at column 12'],
    ['result < 1)', 'expected an operator (&&, ||, ==, <, ...) or the end, found ")" at column 11'],
    ['result 1', 'expected an operator (&&, ||, ==, <, ...) or the end, found the number 1 at column 8'],
    ['results[0 < 1', 'expected "]" to close "[", found the end of the condition at column 14'],
    ['len(results > 0', 'expected ")" to close len(, found the end of the condition at column 16'],
    ['result = 1', 'unexpected "=" (compare with ==) at column 8'],
    ['result < 1 & true', 'unexpected "&" (use && for "and") at column 12'],
    ['result < 1 | true', 'unexpected "|" (use || for "or") at column 12'],
    ['result < 1 # comment', 'unexpected character "#" at column 12'],
    ['body.status == "ok', 'unterminated string (missing closing ") at column 16'],
    ['body == "\\x"', 'invalid escape "\\x" in a string at column 10'],
    ['result < 12abc', 'invalid number "12a" at column 10'],
    ['body.', 'expected a field name after ".", found the end of the condition at column 6'],
    ['body.items.1 == 2', 'expected a field name after ".", found the number 1 (a list element is [1]) at column 12'],
    ['0 < result < 1', 'comparisons do not chain: write "a < b && b < c" instead of "a < b < c" (found "<") at column 12'],
    ['foo(result)', 'unknown function "foo" (functions: len, isNaN, isInf, abs, min, max) at column 1'],
    ['len(1, 2) > 0', 'len() takes 1 argument, got 2: len(x) at column 1'],
    ['max() > 0', 'max() takes at least 1 arguments, got 0: max(list) or max(a, b, ...) at column 1'],
    ['body.f(1)', 'only the functions len, isNaN, isInf, abs, min and max can be called at column 7'],
    ['result && and', 'expected a value, found "and" at column 11'],
  ])('%j: %s', (expr, message) => {
    const e = err(expr, { result: 1, results: [1], body: {} });
    expect(e.message).toBe(message);
    if (expr.trim()) expect(e.position).toBeTypeOf('number');
  });

  it('the position is the 0-based offset of the problem', () => {
    expect(err('result <').position).toBe(8);
    expect(err('a = b').position).toBe(2);
  });

  it('refuses absurdly long or deeply nested conditions without blowing the stack', () => {
    expect(() => parseCondition('1 < 2 && '.repeat(1000) + 'true')).toThrow('the condition is longer than 4000 characters');
    expect(() => parseCondition(`${'('.repeat(500)}true${')'.repeat(500)}`)).toThrow(/nested more than 100 levels deep/);
    expect(() => parseCondition(`${'!'.repeat(300)}true`)).toThrow(/nested more than 100 levels deep/);
    expect(ev(`${'('.repeat(40)}true${')'.repeat(40)}`)).toBe(true);
  });

  it('never runs JavaScript', () => {
    (globalThis as Record<string, unknown>).__pwned = false;
    const attempts = ['process.exit(1)', '(() => true)()', 'globalThis.__pwned = true', 'this.constructor.constructor("return 1")()', '`${1}`'];
    for (const a of attempts) expect(() => evaluateCondition(a, { result: 1 })).toThrow(ConditionError);
    expect((globalThis as Record<string, unknown>).__pwned).toBe(false);
  });
});

describe('a parsed condition evaluates many times', () => {
  it('reuses the parse', () => {
    const c = parseCondition('result < 0.01');
    expect([0.001, 0.02, 0.009].map((result) => evaluateCondition(c, { result }))).toEqual([true, false, true]);
  });
});

describe('checkCondition (validate time)', () => {
  it('accepts good conditions', () => {
    expect(checkCondition('result < 0.01', ['result', 'results'])).toEqual([]);
    expect(checkCondition('max(results) < 1 && !isNaN(result)', ['result', 'results'])).toEqual([]);
    expect(checkCondition('body.status == "ok" && len(body.checks) > 0', ['body'])).toEqual([]);
  });

  it('reports syntax errors with their position', () => {
    expect(checkCondition('result <', ['result'])).toEqual(['expected a value (a number, a string, a name or "("), found the end of the condition at column 9']);
  });

  it('reports every unknown name, with the available ones', () => {
    expect(checkCondition('body.ok && result < 1 && x', ['result', 'results'])).toEqual([
      'unknown name "body" at column 1 (available: result, results)',
      'unknown name "x" at column 26 (available: result, results)',
    ]);
    expect(checkCondition('result < 1', ['body'])).toEqual(['unknown name "result" at column 1 (available: body)']);
  });

  it('does not mistake field names or keywords for names', () => {
    expect(checkCondition('body.result == true && body["x"] != null', ['body'])).toEqual([]);
  });
});

describe('explainCondition and formatValue (for messages)', () => {
  it('shows the values a false condition compared', () => {
    expect(explainCondition('body.status == "ok" && body.n > 3', { body: { status: 'bad', n: 1 } })).toBe('body.status = "bad", body.n = 1');
    expect(explainCondition('!(result * 100 < 5)', { result: 0.1 })).toBe('result * 100 = 10');
    expect(explainCondition('body.missing == 1 || body.a == 2', { body: { a: 1 } })).toBe('body.a = 1');
  });

  it('formats special numbers as Prometheus does and keeps long values short', () => {
    expect([NaN, Infinity, -Infinity, 1.5].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '1.5']);
    expect(formatValue([1, NaN])).toBe('[1,"NaN"]');
    expect(formatValue('x'.repeat(100))).toHaveLength(80);
  });
});
