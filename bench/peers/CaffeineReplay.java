// Replays a key trace through the real Caffeine cache (bench-only peer for bench/cache_hit_ratio.py).
//
// Usage: java -cp caffeine.jar:. CaffeineReplay KEYS_FILE CAPACITY [CAPACITY ...]
// KEYS_FILE holds little-endian int64 keys. For each capacity, a cache bounded to that many entries
// (maximumSize, Caffeine's adaptive W-TinyLFU) runs its maintenance on the calling thread
// (executor(Runnable::run)), so a replay is repeatable; a request is getIfPresent, then put on a miss.
// Prints one line per capacity: "<capacity> <hits> <requests>".
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

public final class CaffeineReplay {
  public static void main(String[] args) throws IOException {
    LongBuffer keys = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[0])))
        .order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
    for (int index = 1; index < args.length; index++) {
      long capacity = Long.parseLong(args[index]);
      Cache<Long, Boolean> cache = Caffeine.newBuilder()
          .maximumSize(capacity)
          .executor(Runnable::run)
          .build();
      long hits = 0;
      for (int position = 0; position < keys.limit(); position++) {
        Long key = keys.get(position);
        if (cache.getIfPresent(key) != null) {
          hits++;
        } else {
          cache.put(key, Boolean.TRUE);
        }
      }
      System.out.println(capacity + " " + hits + " " + keys.limit());
    }
  }
}
