# Read after the main Makefile (make -f Makefile -f bench/bench.mk build/bench/h2o-min) so the
# yardstick is built with porrio's very CC, CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS.
build/bench/h2o-min: bench/h2o-min.c | $(DEPS)/.complete $(KINC)
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)
	strip $@
