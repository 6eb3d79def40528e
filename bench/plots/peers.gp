# bench/plots/peers.gp - the peers plots of bench/run.sh (section peers).
# Called as: gnuplot -e "term='...'; d='DIR'; out='PLOTS'" bench/plots/peers.gp
# Inputs in d (written by run.sh's make_plots from BUILD/bench-out/peers.csv):
#   peer_speedup  "<id> <speedup> <limit>" per DESIGN.md peer target
#   peer_http     "<set> <vitals text> <vitals JSON> <Go> <Python>" req/s
# Outputs: peers_speedup.png, peers_metrics_rps.png.
set terminal @term
set termoption noenhanced
set grid y
set key outside right top

set output out.'/peers_speedup.png'
set title 'vitals against the Go and Python Prometheus clients: how many times faster (bars) and the DESIGN.md target (marks)'
set logscale y
set yrange [0.5:*]
set ylabel 'times faster than the peer (log)'
set xrange [-0.6:5.6]
set style fill solid 0.6
set xtics ('P1 Go counter inc, 2 thr' 0, 'P2 Go hist observe, 2 thr' 1, 'P3 Go /metrics' 2, 'P4 Py counter inc' 3, 'P5 Py hist observe' 4, 'P6 Py /metrics' 5) rotate by -20
plot d.'/peer_speedup' u 0:2:($0-0.3):($0+0.3):(1):2 w boxxyerror t 'vitals / peer (measured)', \
     d.'/peer_speedup' u ($0-0.4):3:(0.8):(0) w vectors nohead lw 3 lc rgb 'red' t 'target', \
     1 w lines dt 2 lc rgb 'black' t 'parity'

reset
set terminal @term
set termoption noenhanced
set grid y
set key outside right top
set logscale y
set style fill solid 0.6
set output out.'/peers_metrics_rps.png'
set title 'GET /metrics under wrk -t1 -c32: requests/s (log), same metric set on every server'
set ylabel 'requests/s (median of the rounds, log)'
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
plot d.'/peer_http' u 2:xtic(1) t 'vitals, Prometheus text', \
     '' u 3 t 'vitals, JSON', \
     '' u 4 t 'Go client_golang promhttp', \
     '' u 5 t 'Python prometheus_client'
