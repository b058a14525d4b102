// Counts and durations of provision, delete and resize per driver, in the Prometheus text format,
// served with /healthz on one port.
import * as http from 'node:http';

export type Operation = 'provision' | 'delete' | 'resize';
export type Result = 'success' | 'failure' | 'waiting';

interface Series {
  count: number;
  seconds: number;
}

export class Metrics {
  private readonly operations = new Map<string, number>();
  private readonly durations = new Map<string, Series>();
  leader = false;

  record(operation: Operation, driver: string, result: Result, seconds: number): void {
    const countKey = `operation="${operation}",driver="${driver}",result="${result}"`;
    this.operations.set(countKey, (this.operations.get(countKey) ?? 0) + 1);
    if (result !== 'success') return;
    const durationKey = `operation="${operation}",driver="${driver}"`;
    const series = this.durations.get(durationKey) ?? { count: 0, seconds: 0 };
    series.count++;
    series.seconds += seconds;
    this.durations.set(durationKey, series);
  }

  render(): string {
    const lines = [
      '# HELP flexvolume_provisioner_operations_total Provision, delete and resize attempts by driver and result.',
      '# TYPE flexvolume_provisioner_operations_total counter',
      ...[...this.operations].map(([labels, value]) => `flexvolume_provisioner_operations_total{${labels}} ${value}`),
      '# HELP flexvolume_provisioner_operation_duration_seconds Time of successful operations, Azure included.',
      '# TYPE flexvolume_provisioner_operation_duration_seconds summary',
      ...[...this.durations].flatMap(([labels, series]) => [
        `flexvolume_provisioner_operation_duration_seconds_sum{${labels}} ${series.seconds.toFixed(3)}`,
        `flexvolume_provisioner_operation_duration_seconds_count{${labels}} ${series.count}`,
      ]),
      '# HELP flexvolume_provisioner_leader 1 while this replica holds the lease.',
      '# TYPE flexvolume_provisioner_leader gauge',
      `flexvolume_provisioner_leader ${this.leader ? 1 : 0}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}

/** `healthy` answers /healthz; a replica waiting for the lease is healthy too. */
export async function serveMetrics(listen: { host: string; port: number }, metrics: Metrics, healthy: () => boolean): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics.render());
    } else if (path === '/healthz') {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
