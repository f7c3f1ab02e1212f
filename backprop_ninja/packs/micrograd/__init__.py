"""The micrograd lecture: a scalar autograd engine, its backward pass written by hand, op by op."""
