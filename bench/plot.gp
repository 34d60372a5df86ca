# W1 sweep: ops/s against connections, one line per system and account count.
# gnuplot -e "datafile='...'; outfile='...'; n=LINES; titles='a;b;...'; colors='1 1 2 ...'; dashes='1 2 1 ...'" bench/plot.gp
# (colors: one number per line, the system; dashes: one per line, the account count.)
# (bench/report writes datafile: one block per line, separated by two blank lines.)
set terminal pngcairo size 1000,600 font ",10"
set output outfile
set title "W1: durable charges of 1 credit, spread over N accounts (make bench)"
set xlabel "connections (closed loop, one request in flight each)"
set ylabel "charges / s"
set logscale x 2
set logscale y 10
set xtics (1, 4, 16, 64, 256)
set xrange [0.8:320]
set grid
set key outside right top
color_of(i) = int(word(colors, i + 1) + 0)
dash_of(i) = int(word(dashes, i + 1) + 0)
title_of(i) = system("echo '".titles."' | cut -d';' -f".(i + 1))
plot for [i = 0:n - 1] datafile index i using 1:2 title title_of(i) with linespoints lw 2 \
  linecolor color_of(i) dashtype dash_of(i) pointtype dash_of(i) + 4
