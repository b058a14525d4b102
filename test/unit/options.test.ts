import * as z from 'zod';
import { parseDriverOptions, parseMountOptions, parseVolumeOptions } from '../../src/flexvolume/options.ts';
import { InvalidInput } from '../../src/flexvolume/errors.ts';
import { goJson, mountOptions } from '../helpers/kubelet.ts';

describe('parseVolumeOptions', () => {
  test('reads the reserved keys and keeps the user options apart', () => {
    const options = parseVolumeOptions(
      goJson({ 'kubernetes.io/fsType': 'xfs', 'kubernetes.io/pvOrVolumeName': 'pv-a', 'kubernetes.io/readwrite': 'ro', diskName: 'd1' }),
    );
    expect(options).toEqual({ fsType: 'xfs', readOnly: true, volumeName: 'pv-a', user: { diskName: 'd1' } });
  });

  test('defaults when a person leaves the reserved keys out', () => {
    expect(parseVolumeOptions('{}')).toEqual({ fsType: '', readOnly: false, volumeName: '', user: {} });
  });

  test("decodes Go's HTML escapes", () => {
    expect(parseVolumeOptions(goJson({ note: 'a<b>&c' })).user.note).toBe('a<b>&c');
  });

  test.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['a string', '"x"', /JSON object/],
    ['a number value', '{"a":1}', /option 'a' must be a string/],
    ['a nested object', '{"a":{}}', /option 'a' must be a string/],
    ['bad readwrite', '{"kubernetes.io/readwrite":"RW"}', /"rw" or "ro"/],
    ['a volume name with a slash', '{"kubernetes.io/pvOrVolumeName":"a/b"}', /without '\/'/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseVolumeOptions(text)).toThrow(InvalidInput);
    expect(() => parseVolumeOptions(text)).toThrow(message);
  });

  test('rejects an oversized document before parsing it', () => {
    expect(() => parseVolumeOptions(goJson({ pad: 'x'.repeat(70 * 1024) }))).toThrow(/at most 65536/);
  });
});

describe('parseMountOptions', () => {
  test('decodes secrets, trims whitespace and carriage returns, reads pod info and fsGroup', () => {
    const options = parseMountOptions(
      goJson(mountOptions({ share: 's' }, { secrets: { accountname: 'acct\r\n', accountkey: '  k,$!"\' ey\n' }, fsGroup: 2000 })),
    );
    expect(options.secrets).toEqual({ accountname: 'acct', accountkey: 'k,$!"\' ey' });
    expect(options.fsGroup).toBe(2000);
    expect(options.pod).toEqual({
      name: 'web-0',
      namespace: 'default',
      uid: '7f0c6d3e-1111-4a4a-9c9c-000000000001',
      serviceAccount: 'default',
    });
    expect(options.user).toEqual({ share: 's' });
  });

  test('accepts the pre-1.15 fsGroup key', () => {
    expect(parseMountOptions('{"kubernetes.io/fsGroup":"42"}').fsGroup).toBe(42);
  });

  test.each([
    ['a negative fsGroup', '{"kubernetes.io/mounterArgs.FsGroup":"-1"}', /decimal group id/],
    ['a non-numeric fsGroup', '{"kubernetes.io/mounterArgs.FsGroup":"root"}', /decimal group id/],
    ['a secret that is not base64', '{"kubernetes.io/secret/accountkey":"not base64!"}', /secret key 'accountkey' is not base64/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseMountOptions(text)).toThrow(message);
  });

  test('never puts a secret value into an error message', () => {
    const text = goJson({ 'kubernetes.io/secret/accountkey': 'c2VjcmV0!' });
    expect(() => parseMountOptions(text)).toThrow(/accountkey/);
    try {
      parseMountOptions(text);
    } catch (error) {
      expect((error as Error).message).not.toContain('c2VjcmV0');
    }
  });
});

describe('parseDriverOptions', () => {
  const schema = () => z.object({ shareName: z.string().min(1), subDir: z.string().optional() });

  test('matches keys case-insensitively onto their canonical names', () => {
    expect(parseDriverOptions(schema, { sharename: 'data', SUBDIR: 'a' })).toEqual({ shareName: 'data', subDir: 'a' });
  });

  test('names a missing required option', () => {
    expect(() => parseDriverOptions(schema, {})).toThrow("option 'shareName' is required");
  });

  test('refuses an unknown option and lists the known ones', () => {
    expect(() => parseDriverOptions(schema, { shareName: 'x', shareNmae: 'y' })).toThrow(
      "unknown option 'shareNmae'; this driver takes: shareName, subDir",
    );
  });
});
