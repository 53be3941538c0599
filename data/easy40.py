def median(values):
    """Return the median of a non-empty list of numbers."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2

def gcd(a, b):
    """Return the greatest common divisor of two integers."""
    while b:
        a, b = b, a % b
    return abs(a)

def lcm(a, b):
    """Return the least common multiple of two positive integers."""
    return a * b // gcd(a, b)

def average(values):
    """Return the arithmetic mean of a non-empty list."""
    total = sum(values)
    return total / len(values)

def remove_duplicates(items):
    """Return the items without repeats, keeping the first occurrence."""
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    return result

def is_palindrome(text):
    """Tell whether a string reads the same backwards, ignoring case."""
    cleaned = text.lower()
    return cleaned == cleaned[::-1]

def fibonacci(n):
    """Return the n-th Fibonacci number, starting from fibonacci(0) == 0."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

def factorial(n):
    """Return n! for a non-negative integer n."""
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result

def flatten(nested):
    """Flatten a list of lists by one level."""
    result = []
    for sublist in nested:
        result.extend(sublist)
    return result

def is_prime(n):
    """Tell whether n is a prime number."""
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5) + 1):
        if n % d == 0:
            return False
    return True

def reverse_string(text):
    """Return the string reversed."""
    return text[::-1]

def count_vowels(text):
    """Count the vowels in a string."""
    return sum(1 for ch in text.lower() if ch in "aeiou")

def maximum(values):
    """Return the largest value of a non-empty list without using max()."""
    best = values[0]
    for value in values[1:]:
        if value > best:
            best = value
    return best

def minimum(values):
    """Return the smallest value of a non-empty list without using min()."""
    best = values[0]
    for value in values[1:]:
        if value < best:
            best = value
    return best

def sum_of_squares(n):
    """Return 1**2 + 2**2 + ... + n**2."""
    return sum(i * i for i in range(1, n + 1))

def celsius_to_fahrenheit(celsius):
    """Convert a temperature from Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32

def fahrenheit_to_celsius(fahrenheit):
    """Convert a temperature from Fahrenheit to Celsius."""
    return (fahrenheit - 32) * 5 / 9

def word_count(text):
    """Count how often each word occurs in a text."""
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts

def is_anagram(first, second):
    """Tell whether two words are anagrams of each other."""
    return sorted(first.lower()) == sorted(second.lower())

def binary_search(items, target):
    """Return the index of target in a sorted list, or -1."""
    low, high = 0, len(items)
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if items[mid] < target else (low, mid)
    return low if low < len(items) and items[low] == target else -1

def bubble_sort(items):
    """Return a sorted copy of a list, using bubble sort."""
    result = list(items)
    for i in range(len(result)):
        for j in range(len(result) - 1 - i):
            if result[j] > result[j + 1]:
                result[j], result[j + 1] = result[j + 1], result[j]
    return result

def chunk(items, size):
    """Split a list into consecutive pieces of the given size."""
    return [items[i:i + size] for i in range(0, len(items), size)]

def capitalize_words(text):
    """Capitalize the first letter of every word."""
    return " ".join(word.capitalize() for word in text.split())

def digit_sum(n):
    """Return the sum of the decimal digits of a non-negative integer."""
    total = 0
    while n > 0:
        total += n % 10
        n //= 10
    return total

def power(base, exponent):
    """Return base raised to a non-negative integer exponent."""
    result = 1
    for _ in range(exponent):
        result *= base
    return result

def is_even(n):
    """Tell whether an integer is even."""
    return n % 2 == 0

def clamp(value, low, high):
    """Limit a value to the range [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value

def merge_dicts(first, second):
    """Return a new dict with the keys of both; the second wins on conflicts."""
    merged = dict(first)
    merged.update(second)
    return merged

def transpose(matrix):
    """Return the transpose of a matrix given as a list of rows."""
    return [list(row) for row in zip(*matrix)]

def running_total(values):
    """Return the list of cumulative sums."""
    totals = []
    current = 0
    for value in values:
        current += value
        totals.append(current)
    return totals

def count_occurrences(items, target):
    """Count how many times target appears in a list."""
    count = 0
    for item in items:
        if item == target:
            count += 1
    return count

def second_largest(values):
    """Return the second largest distinct value of a list."""
    distinct = sorted(set(values))
    return distinct[-2]

def to_binary(n):
    """Return the binary digits of a non-negative integer as a string."""
    digits = ""
    while n > 0:
        digits = str(n % 2) + digits
        n //= 2
    return digits or "0"

def vowel_free(text):
    """Return the text with its vowels removed."""
    return "".join(ch for ch in text if ch.lower() not in "aeiou")

def dot_product(a, b):
    """Return the dot product of two vectors of the same length."""
    return sum(x * y for x, y in zip(a, b))

def rotate_left(items, k):
    """Rotate a list k places to the left."""
    if not items:
        return []
    k %= len(items)
    return items[k:] + items[:k]

def is_sorted(items):
    """Tell whether a list is sorted in non-decreasing order."""
    for i in range(len(items) - 1):
        if items[i] > items[i + 1]:
            return False
    return True

def char_frequency(text):
    """Return a dict mapping each character to its number of occurrences."""
    freq = {}
    for ch in text:
        freq[ch] = freq.get(ch, 0) + 1
    return freq

def pairwise_sums(values):
    """Return the sums of neighbouring elements."""
    return [a + b for a, b in zip(values, values[1:])]

def safe_divide(a, b):
    """Divide a by b, returning None when b is zero."""
    if b == 0:
        return None
    return a / b
