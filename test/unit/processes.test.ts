import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { peerProcesses } from '../../src/system/processes.ts';

test('peerProcesses finds the other processes of this executable whose arguments match, and only those', async () => {
  const args = (node: string) => ['-e', 'setTimeout(() => {}, 20000)', 'attach', '{}', node];
  const peer = spawn(process.execPath, args('node-7'), { stdio: 'ignore' });
  const otherNode = spawn(process.execPath, args('node-8'), { stdio: 'ignore' });
  const otherProgram = spawn('sleep', ['20', 'attach', '{}', 'node-7'], { stdio: 'ignore' });
  try {
    await Promise.all([once(peer, 'spawn'), once(otherNode, 'spawn'), once(otherProgram, 'spawn')]);
    const found = peerProcesses((argv) => argv.at(-3) === 'attach' && argv.at(-1) === 'node-7');
    expect(found).toContain(peer.pid);
    expect(found).not.toContain(otherNode.pid);
    expect(found).not.toContain(otherProgram.pid);
    expect(found).not.toContain(process.pid);
  } finally {
    for (const child of [peer, otherNode, otherProgram]) child.kill('SIGKILL');
  }
});
