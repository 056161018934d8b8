# Read by debian/rules together with the configured Makefile, to list the
# test suites automake knows (one line, separated by spaces).
print-tests:
	@echo $(TESTS)
