#!/bin/bash
# alternating A/B of spread; results in $1
out=$1; shift
for i in 1 2 3; do
  bench/run.sh scaleout --configs "$@" --scenarios spread --results $out --quiet-wait 5 >> $out.log 2>&1
done
python3 - $out <<'PY'
import json,sys
rows={}
for l in open(sys.argv[1]+'/results.jsonl'):
    r=json.loads(l)
    if 'flat-out' not in r['variant']: continue
    p=r['per_node'][0]
    rows.setdefault(r['config'],[]).append((round(r['deliveries_per_s']), r.get('lat_arrival_steady_p99_ms'), p.get('threads_cpu_s'), p.get('bus_messages_received')))
for k,v in rows.items():
    print(k); [print('  ',x) for x in v]
PY
