# make sanitize, make valgrind, make fuzz: see the targets below.
.PHONY: sanitize valgrind fuzz
