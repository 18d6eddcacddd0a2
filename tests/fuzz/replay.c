/* SPDX-License-Identifier: MIT */
/* replay.c: runs a fuzz target over each file of a corpus directory (TAP). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	struct dirent **names;
	int n, i, count = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	n = scandir(argv[1], &names, NULL, alphasort);
	if (n < 0) {
		printf("not ok 1 - cannot read corpus '%s'\n1..1\n", argv[1]);
		return 1;
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		FILE *f;
		uint8_t *buf = NULL;
		long len;

		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", argv[1],
			 names[i]->d_name);
		f = fopen(path, "rb");
		if (f && !fseek(f, 0, SEEK_END) && (len = ftell(f)) >= 0 &&
		    !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)len + 1)) &&
		    fread(buf, 1, (size_t)len, f) == (size_t)len) {
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			printf("ok %d - %s\n", ++count, names[i]->d_name);
		} else {
			printf("not ok %d - cannot read %s\n", ++count, path);
		}
		if (f)
			fclose(f);
		free(buf);
		free(names[i]);
	}
	free(names);
	printf("1..%d\n", count);
	return 0;
}
