// Where the pages find the API, for a server that serves this folder as it
// is. The bundled stack's nginx answers /config.js itself: "/api", or, for
// the pages seen as http://localhost:PORT (another origin), the API at
// http://127.0.0.1:PORT/api, across origins (conf/nginx/stack.conf.in).
export default { API_URL: "/api" };
