import { redactValue } from '../../src/system/log.ts';
import { failure, MAX_MESSAGE_CHARS, serializeReply, success } from '../../src/flexvolume/reply.ts';

describe('reply', () => {
  test('a message gets the same redaction as a log line: registered secrets, short ones, and secret-shaped pairs', () => {
    redactValue('U3RvcmFnZUtleQ==');
    redactValue('pw');
    const text = serializeReply(failure('mount.cifs echoed U3RvcmFnZUtleQ== with password=hunter2 and pw'));
    expect(text).toBe('{"status":"Failure","message":"mount.cifs echoed *** with password=*** and ***"}\n');
  });

  test('a message is one line, capped for a kubelet event', () => {
    const text = serializeReply(failure(`first line\n   second line\n${'x'.repeat(5000)}`));
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).not.toContain('\n');
    const { message } = JSON.parse(text) as { message: string };
    expect(message.startsWith('first line / second line / xxx')).toBe(true);
    expect(message.length).toBe(MAX_MESSAGE_CHARS);
    expect(message.endsWith('… (the rest is in the driver log)')).toBe(true);
  });

  test('a reply without a message stays as it is', () => {
    expect(serializeReply(success({ attached: true }))).toBe('{"status":"Success","attached":true}\n');
  });
});
