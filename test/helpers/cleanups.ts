// Clean-up for the demo and the benchmarks, which make loop devices, mounts, simulators and temp
// dirs: steps are registered as things are made, and run once, newest first, each one even if
// another failed, whether the run ends, fails or is interrupted.
export interface Cleanups {
  add(step: () => void | Promise<void>): void;
  run(): Promise<void>;
}

export function createCleanups(onDone: () => void = () => {}): Cleanups {
  const steps: Array<() => void | Promise<void>> = [];
  let running: Promise<void> | undefined;
  return {
    add: (step) => {
      steps.push(step);
    },
    run: () =>
      (running ??= (async () => {
        for (const step of steps.splice(0).reverse()) {
          try {
            await step();
          } catch (error) {
            process.stderr.write(`clean-up step failed: ${(error as Error).message}\n`);
          }
        }
        onDone();
      })()),
  };
}
