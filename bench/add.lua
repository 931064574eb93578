-- wrk script: POST /api/cart/add with decrease_stock over many carts and
-- products, so neither cart_full nor insufficient_stock dominates.
local carts = {}
local first, nproducts = 0, 0

function init(args)
  for line in io.lines(args[1]) do carts[#carts + 1] = line end
  first = tonumber(args[2])
  nproducts = tonumber(args[3])
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  local cart = carts[math.random(#carts)]
  local product = first + math.random(nproducts) - 1
  local body = string.format('{"cart_id":"%s","product_id":%d,"quantity":1,"decrease_stock":true}', cart, product)
  return wrk.format("POST", "/api/cart/add", { ["Content-Type"] = "application/json" }, body)
end
