-- wrk script for make bench (bench/run, bench/curve, bench/scale): one
-- request shape that stockd's POST /api/cart/add, POST /api/stock/reserve and
-- the lean baselines (any URI is a reserve there) all accept.
--
--   wrk ... -s bench/hold.lua URL -- KIND CARTS PRODUCTS [LINES]
--
-- KIND     add (POST /api/cart/add, decrease_stock), reserve (POST
--          /api/stock/reserve), lean (POST /api/stock/reserve on a
--          baseline: the same body), view (GET /api/cart/{id})
-- CARTS    file of cart ids, one a line (carts seeded through the API)
-- PRODUCTS file of product ids, one a line; one line is the hot product
-- LINES    optional: cart number k (0-based) only touches products
--          (k*LINES + j) mod #PRODUCTS, j < LINES, the lines it already has
--          (bench/scale's cart length), instead of any product
local kind, carts, products, lines = "add", {}, {}, 0
local nthread = 0

function setup(thread)
  nthread = nthread + 1
  thread:set("seed", nthread)
end

function init(args)
  kind = args[1]
  for l in io.lines(args[2]) do carts[#carts + 1] = l end
  for l in io.lines(args[3]) do products[#products + 1] = tonumber(l) end
  lines = tonumber(args[4] or "0")
  -- Each thread its own sequence, so two threads do not send the same requests.
  math.randomseed(os.time() * 1000 + (seed or 0))
end

local fmt, rnd = string.format, math.random
local paths = { add = "/api/cart/add", reserve = "/api/stock/reserve", lean = "/api/stock/reserve" }

request = function()
  local k = rnd(#carts)
  local cart = carts[k]
  if kind == "view" then
    return wrk.format("GET", "/api/cart/" .. cart, { ["X-Cart-Id"] = cart })
  end
  local product
  if lines > 0 then
    product = products[((k - 1) * lines + rnd(0, lines - 1)) % #products + 1]
  else
    product = products[rnd(#products)]
  end
  local body
  if kind == "add" then
    body = fmt('{"cart_id":"%s","product_id":%d,"quantity":1,"decrease_stock":true}', cart, product)
  else
    body = fmt('{"cart_id":"%s","product_id":%d,"quantity":1}', cart, product)
  end
  return wrk.format("POST", paths[kind],
    { ["Content-Type"] = "application/json", ["X-Cart-Id"] = cart }, body)
end
