<?php
// The PHP-FPM way of doing POST /api/cart/add with decrease_stock, for
// `make bench` to compare against: what a LAMP shop would write, with PDO's
// defaults (a connection per request, emulated prepares, exceptions) and
// the same transaction as the app, statement for statement, under the same
// locks in the same order.
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
if (!is_string($cart) || !is_int($product) || $product <= 0 || !is_int($qty) || $qty <= 0) {
    answer(400, ['error' => 'validation_failed']);
}

try {
    $db = new PDO('mysql:unix_socket=' . getenv('DB_SOCKET') . ';dbname=' . getenv('DB_NAME'),
                  getenv('DB_USER'), getenv('DB_PASSWORD'),
                  [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
} catch (PDOException $e) {
    answer(503, ['error' => 'database_unavailable']);
}

const HOLD_MS = 30 * 60 * 1000;

for ($attempt = 0; ; $attempt++) {
    try {
        $now = (int) (microtime(true) * 1000);
        $until = $now + HOLD_MS;
        $db->beginTransaction();
        $q = $db->prepare('SELECT c.status,
              (SELECT i.quantity FROM cart_items i WHERE i.cart_id = c.id AND i.product_id = ?),
              EXISTS(SELECT 1 FROM stock_holds h WHERE h.cart_id = c.id AND h.product_id = ? AND h.expires_at_ms > ?),
              (SELECT COUNT(*) FROM cart_items i WHERE i.cart_id = c.id)
              + (SELECT COUNT(*) FROM stock_holds h WHERE h.cart_id = c.id AND h.expires_at_ms > ?
                 AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = h.cart_id AND i.product_id = h.product_id))
            FROM carts c WHERE c.id = ? FOR UPDATE');
        $q->execute([$product, $product, $now, $now, $cart]);
        $c = $q->fetch(PDO::FETCH_NUM);
        if (!$c) {
            $db->rollBack();
            answer(404, ['error' => 'cart_not_found']);
        }
        if ($c[0] === 'checked_out') {
            $db->rollBack();
            answer(409, ['error' => 'cart_closed']);
        }
        $db->prepare("INSERT INTO cart_items (cart_id, product_id, quantity, mode) VALUES (?, ?, ?, 'stock')
            ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), mode = VALUES(mode)")
           ->execute([$cart, $product, $qty]);
        $q = $db->prepare('SELECT i.product_id, i.quantity, COALESCE(h.quantity, 0), COALESCE(h.expires_at_ms, 0)
              FROM cart_items i LEFT JOIN stock_holds h
                ON h.cart_id = i.cart_id AND h.product_id = i.product_id AND h.expires_at_ms > ?
              WHERE i.cart_id = ?
            UNION ALL
            SELECT h.product_id, 0, h.quantity, h.expires_at_ms FROM stock_holds h
              WHERE h.cart_id = ? AND h.expires_at_ms > ?
                AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = h.cart_id AND i.product_id = h.product_id)');
        $q->execute([$now, $cart, $cart, $now]);
        $items = $q->fetchAll(PDO::FETCH_NUM);
        $q = $db->prepare('SELECT p.stock, p.reserved_stock, p.price_cents,
              (SELECT COALESCE(SUM(h.quantity), 0) FROM stock_holds h WHERE h.product_id = p.id AND h.expires_at_ms <= ?),
              (SELECT h.quantity FROM stock_holds h WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?),
              (SELECT h.expires_at_ms FROM stock_holds h WHERE h.cart_id = ? AND h.product_id = p.id AND h.expires_at_ms > ?)
            FROM products p WHERE p.id = ? FOR UPDATE');
        $q->execute([$now, $cart, $now, $cart, $now, $product]);
        $p = $q->fetch(PDO::FETCH_NUM);
        if (!$p) {
            $db->rollBack();
            answer(404, ['error' => 'product_not_found']);
        }
        [$stock, $reserved, , $expired, $held] = array_map('intval', $p);
        if ($expired > 0) {
            $db->prepare('DELETE FROM stock_holds WHERE product_id = ? AND expires_at_ms <= ?')
               ->execute([$product, $now]);
            $db->prepare('UPDATE products SET reserved_stock = reserved_stock + ? WHERE id = ?')
               ->execute([-$expired, $product]);
            $reserved -= $expired;
        }
        if ($stock - $reserved < $qty) {
            $db->rollBack();
            answer(409, ['error' => 'insufficient_stock', 'available' => $stock - $reserved]);
        }
        $hold = $held + $qty;
        $db->prepare('INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (?, ?, ?, ?)
            ON DUPLICATE KEY UPDATE quantity = VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)')
           ->execute([$cart, $product, $hold, $until]);
        $db->prepare('UPDATE products SET reserved_stock = reserved_stock + ? WHERE id = ?')
           ->execute([$qty, $product]);
        $db->commit();
        break;
    } catch (PDOException $e) {
        if ($db->inTransaction()) {
            $db->rollBack();
        }
        // 1213 deadlock, 1205 lock wait timeout: try again, as the app does.
        if (!in_array($e->errorInfo[1] ?? 0, [1213, 1205], true) || $attempt == 2) {
            answer(503, ['error' => 'database_unavailable']);
        }
    }
}

usort($items, fn($a, $b) => $a[0] <=> $b[0]);
$view = [];
foreach ($items as [$id, $quantity, $reserved, $expires]) {
    if ((int) $id === $product) {
        [$reserved, $expires] = [$hold, $until];
    }
    $view[] = ['product_id' => (int) $id, 'quantity' => (int) $quantity, 'reserved' => (int) $reserved,
               'reserved_until' => $reserved ? gmdate('Y-m-d\TH:i:s\Z', intdiv((int) $expires, 1000)) : null];
}
answer(200, ['cart_id' => $cart, 'status' => 'open', 'items' => $view, 'warnings' => []]);
