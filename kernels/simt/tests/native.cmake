# Native (nvcc) builds of the test kernels: see below.
