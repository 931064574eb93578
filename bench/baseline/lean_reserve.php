<?php
// The lean reserve the PHP-FPM + PDO way, for `make bench` (issue 11): the
// same five round trips as lean_reserve.c on stockd's schema (lock the
// product, check, write, commit), written as a LAMP shop writes it: a new
// connection per request, real server-side prepared statements
// (ATTR_EMULATE_PREPARES false), exceptions. Any URI is a reserve; the body
// is stockd's ({"cart_id","product_id","quantity"}, other fields ignored).
header('Content-Type: application/json');

function answer(int $status, array $body): void
{
    http_response_code($status);
    echo json_encode($body);
    exit;
}

$in = json_decode(file_get_contents('php://input'), true);
$cart = $in['cart_id'] ?? null;
$product = $in['product_id'] ?? 0;
$qty = $in['quantity'] ?? 0;
if (!is_string($cart) || $cart === '' || strlen($cart) > 32 || !is_int($product) || $product <= 0
    || !is_int($qty) || $qty <= 0 || $qty > 1000) {
    answer(400, ['error' => ['code' => 'invalid_request']]);
}

// stockd's default STOCK_RESERVATION_TIMEOUT.
const HOLD_MS = 30 * 60 * 1000;

try {
    $db = new PDO('mysql:unix_socket=' . getenv('DB_SOCKET') . ';dbname=' . getenv('DB_NAME') . ';charset=utf8mb4',
                  getenv('DB_USER'), getenv('DB_PASSWORD'),
                  [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_EMULATE_PREPARES => false]);
    // The server's default isolation level (no SET: that would be one more
    // round trip per request, which a LAMP shop does not make); a rare
    // deadlock on the upsert's gap locks is retried below.
} catch (PDOException $e) {
    answer(503, ['error' => ['code' => 'database_unavailable']]);
}

for ($attempt = 1; ; $attempt++) {
    try {
        $db->beginTransaction();
        $q = $db->prepare('SELECT stock, reserved_stock FROM products WHERE id = ? FOR UPDATE');
        $q->execute([$product]);
        $row = $q->fetch(PDO::FETCH_NUM);
        $q->closeCursor();
        if ($row === false) {
            $db->rollBack();
            answer(404, ['error' => ['code' => 'product_not_found']]);
        }
        $available = (int) $row[0] - (int) $row[1];
        if ($available < $qty) {
            $db->rollBack();
            answer(409, ['error' => ['code' => 'insufficient_stock', 'available' => $available]]);
        }
        // next_expiry_ms: stockd's schema asks every hold writer to keep it below its holds' expiries.
        $until = (int) (microtime(true) * 1000) + HOLD_MS;
        $db->prepare('UPDATE products SET reserved_stock = reserved_stock + ?, next_expiry_ms = LEAST(next_expiry_ms, ?)
            WHERE id = ?')
           ->execute([$qty, $until, $product]);
        $db->prepare('INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)
            ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)')
           ->execute([$cart, $product, $qty, $until]);
        $db->commit();
        answer(200, ['cart_id' => $cart, 'product_id' => $product, 'available' => $available - $qty]);
    } catch (PDOException $e) {
        if ($db->inTransaction()) {
            $db->rollBack();
        }
        // 1213 deadlock, 1205 lock wait timeout: the whole transaction again.
        if (!in_array($e->errorInfo[1] ?? 0, [1213, 1205], true) || $attempt == 3) {
            error_log('lean_reserve.php: ' . $e->getMessage());
            answer(503, ['error' => ['code' => 'database_unavailable']]);
        }
    }
}
