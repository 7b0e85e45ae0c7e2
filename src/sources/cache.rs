//! A small map that forgets its oldest entries past a fixed size (a count, and optionally a
//! weight such as bytes), so caches keyed by URL or SHA cannot grow with uptime.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Map holding at most `capacity` entries and at most `max_weight` of their total weight;
/// the entry least recently inserted or touched goes first.
#[derive(Debug, Clone)]
pub struct BoundedCache<K, V> {
    capacity: usize,
    max_weight: usize,
    weigh: fn(&V) -> usize,
    weight: usize,
    entries: HashMap<K, V>,
    /// Oldest first.
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V> BoundedCache<K, V> {
    /// Bounded by the count alone.
    pub fn new(capacity: usize) -> Self {
        Self::with_weight_limit(capacity, usize::MAX, |_| 0)
    }

    /// Bounded by the count and by the sum of `weigh` over the values; a value heavier than
    /// the whole limit is not kept.
    pub fn with_weight_limit(capacity: usize, max_weight: usize, weigh: fn(&V) -> usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_weight,
            weigh,
            weight: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key)
    }

    /// Makes `key` the newest entry, so a value still in use outlives those that are not.
    pub fn touch(&mut self, key: &K) {
        if let Some(at) = self.order.iter().position(|k| k == key)
            && let Some(found) = self.order.remove(at)
        {
            self.order.push_back(found);
        }
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.remove(&key);
        let weight = (self.weigh)(&value);
        if weight > self.max_weight {
            return;
        }
        self.weight += weight;
        self.entries.insert(key.clone(), value);
        self.order.push_back(key);
        while self.order.len() > self.capacity || self.weight > self.max_weight {
            match self.order.front().cloned() {
                Some(oldest) => self.remove(&oldest),
                None => break,
            }
        }
    }

    fn remove(&mut self, key: &K) {
        if let Some(value) = self.entries.remove(key) {
            self.weight -= (self.weigh)(&value);
            if let Some(at) = self.order.iter().position(|k| k == key) {
                self.order.remove(at);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The total weight of the values kept.
    pub fn weight(&self) -> usize {
        self.weight
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_capacity() {
        let mut cache = BoundedCache::new(3);
        for i in 0..10 {
            cache.insert(i, i * 10);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&9), Some(&90));
        assert_eq!(cache.get(&6), None);
    }

    #[test]
    fn replacing_a_value_keeps_one_entry() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1);
        cache.insert("a", 2);
        cache.insert("b", 3);
        assert_eq!(cache.get(&"a"), Some(&2));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_weight_limit_drops_the_oldest_until_the_rest_fits() {
        let mut cache: BoundedCache<&str, String> =
            BoundedCache::with_weight_limit(10, 10, String::len);
        cache.insert("a", "aaaa".to_string());
        cache.insert("b", "bbbb".to_string());
        assert_eq!(cache.weight(), 8);
        cache.insert("c", "cccc".to_string());
        assert_eq!(cache.get(&"a"), None, "12 > 10: the oldest went");
        assert_eq!(cache.weight(), 8);
        // Replacing a value counts its new weight only.
        cache.insert("c", "c".to_string());
        assert_eq!(cache.weight(), 5);
        // Heavier than the whole limit: not kept, and nothing else is dropped for it.
        cache.insert("d", "d".repeat(11));
        assert_eq!(cache.get(&"d"), None);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_touched_or_replaced_entry_goes_last() {
        let mut cache = BoundedCache::new(2);
        cache.insert("hot", 1);
        cache.insert("once", 2);
        cache.touch(&"hot");
        cache.insert("again", 3);
        assert_eq!(cache.get(&"hot"), Some(&1));
        assert_eq!(cache.get(&"once"), None);
        cache.insert("again", 4);
        cache.insert("hot", 5);
        cache.insert("new", 6);
        assert_eq!(cache.get(&"again"), None, "\"hot\" was replaced after it");
        assert_eq!(cache.get(&"hot"), Some(&5));
    }
}
