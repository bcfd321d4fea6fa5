// A C++ program (e2e.cxx_names): its peak is made in a namespace's
// function through std::vector; the report must show C++ names.
#include <cstdio>
#include <vector>

namespace jobs {
__attribute__((noinline)) std::vector<long> grow_peak(std::size_t n)
{
	std::vector<long> v;
	for (std::size_t i = 0; i < n; i++)
		v.push_back(static_cast<long>(i));
	return v;
}
} // namespace jobs

int main()
{
	auto v = jobs::grow_peak(4u << 20);
	std::printf("%zu\n", v.size());
	return 0;
}
