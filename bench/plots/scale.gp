# bench/plots/scale.gp - the scale curves of bench/run.sh (section scale).
# Called as: gnuplot -e "term='...'; d='DIR'; out='PLOTS'" bench/plots/scale.gp
# Inputs in d (from BUILD/bench-out/scale.csv by run.sh's make_plots):
#   scale_series   "<series> <merge ms> <prom ms> <json ms> <heap MiB>"
#   scale_threads  "<writers> <merge ms> <prom ms> <json ms> <heap MiB>"
#   scale_checks   "<checks> <ms med> <min> <max>"
#   fits           "fit_<curve>_a=...; fit_<curve>_b=..." gnuplot statements
#                  (intercept in ms or MiB, slope per x)
# Outputs: scale_series.png, scale_threads.png, scale_checks.png.
set terminal @term
set termoption noenhanced
set grid
set key outside right top
load d.'/fits'

set output out.'/scale_series.png'
set title 'Scrape (merge + encode) and memory against series (2 writer threads, live shards); dashed: fitted lines'
set logscale xy
set xlabel 'series'
set ylabel 'ms (median)'
set y2label 'heap MiB'
set logscale y2
set ytics nomirror
set y2tics
plot d.'/scale_series' u 1:2 w linespoints t 'merge', \
     '' u 1:3 w linespoints t 'merge + Prometheus text', \
     '' u 1:4 w linespoints t 'merge + JSON', \
     '' u 1:5 axes x1y2 w linespoints t 'heap MiB (right axis)', \
     fit_scrape_prom_vs_series_a + fit_scrape_prom_vs_series_b * x dt 2 t 'fit: text', \
     fit_memory_vs_series_a + fit_memory_vs_series_b * x axes x1y2 dt 2 t 'fit: heap'

set output out.'/scale_threads.png'
set title 'Scrape (merge + encode) and memory of 1,000 series against writer threads; dashed: fitted lines'
set xlabel 'writer threads'
set logscale x 2
set format x '%g'
plot d.'/scale_threads' u 1:2 w linespoints t 'merge', \
     '' u 1:3 w linespoints t 'merge + Prometheus text', \
     '' u 1:4 w linespoints t 'merge + JSON', \
     '' u 1:5 axes x1y2 w linespoints t 'heap MiB (right axis)', \
     fit_scrape_prom_vs_threads_a + fit_scrape_prom_vs_threads_b * x dt 2 t 'fit: text', \
     fit_memory_vs_threads_a + fit_memory_vs_threads_b * x axes x1y2 dt 2 t 'fit: heap'

set output out.'/scale_checks.png'
set title 'Fresh /health (run of every check + JSON) against instant checks; dashed: fitted line'
unset y2label
unset y2tics
unset logscale y2
set ytics mirror
set logscale x 10
set xlabel 'checks'
set ylabel 'ms (median; bars: min-max)'
plot d.'/scale_checks' u 1:2:3:4 w yerrorlines t 'fresh run + JSON', \
     fit_health_vs_checks_a + fit_health_vs_checks_b * x dt 2 t 'fit'
